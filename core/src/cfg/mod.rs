//! The cfg language (Kamailio's). This first part is the preprocessor;
//! the parser, the compiled script and the pseudo-variables follow
//! (issue 4).

mod preprocess;

pub use preprocess::{cfg_print, preprocess, preprocess_str, Defines, Loc, PreprocessError, Preprocessed};
