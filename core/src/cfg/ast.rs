//! The parsed cfg, before names are resolved: what the parser produces
//! and the compiler consumes. Positions are byte offsets into the
//! preprocessed text ([`super::SourceMap`] turns them into
//! `file:line:column`).

/// A byte offset into the preprocessed text.
pub type Pos = u32;

/// A whole cfg file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CfgFile {
    /// Top-level items in order.
    pub items: Vec<Item>,
}

/// A top-level item.
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    /// `name = value` (a core parameter).
    Param {
        /// Name.
        name: String,
        /// Value.
        value: ParamValue,
        /// Where the name is.
        at: Pos,
        /// Where the value is.
        value_at: Pos,
    },
    /// `group.name = value [desc "text"]` (a custom cfg parameter).
    CustomParam {
        /// `group.name`.
        name: String,
        /// Value.
        value: ParamValue,
        /// Description.
        desc: Option<String>,
        /// Where.
        at: Pos,
    },
    /// `flags NAME[: bit], ...` / `avpflags ...`.
    Flags {
        /// `avpflags` rather than `flags`.
        avp: bool,
        /// Names with their bit, if given.
        names: Vec<(String, Option<i64>, Pos)>,
    },
    /// `loadmodule "path"`.
    LoadModule {
        /// As written.
        path: String,
        /// Where.
        at: Pos,
    },
    /// `modparam("module", "param", value)`.
    ModParam {
        /// Module name (may be a `|`-separated list or a regex, as Kamailio).
        module: String,
        /// Parameter.
        param: String,
        /// Value.
        value: ModValue,
        /// Where.
        at: Pos,
    },
    /// A route block.
    Route(RouteBlock),
}

/// A core parameter value.
#[derive(Debug, Clone, PartialEq)]
pub enum ParamValue {
    /// A number.
    Int(i64),
    /// A string (adjacent literals joined).
    Str(String),
    /// `yes/no/on/off/true/false/enable/disable`.
    Bool(bool),
    /// A bare word (`LOG_LOCAL0`).
    Ident(String),
    /// Socket-like text kept raw (`udp:127.0.0.1:5060 advertise 1.2.3.4:5060`).
    Raw(String),
}

/// A `modparam` value.
#[derive(Debug, Clone, PartialEq)]
pub enum ModValue {
    /// A number (or yes/no).
    Int(i64),
    /// A string.
    Str(String),
}

/// Which kind of route block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RouteKind {
    /// `request_route`, `route`, `route[NAME]`.
    Request,
    /// `reply_route` / `onreply_route` without a name.
    Reply,
    /// `onreply_route[NAME]`.
    OnReply,
    /// `failure_route[NAME]`.
    Failure,
    /// `branch_route[NAME]`.
    Branch,
    /// `onsend_route`.
    OnSend,
    /// `event_route[NAME]`.
    Event,
}

/// A route block.
#[derive(Debug, Clone, PartialEq)]
pub struct RouteBlock {
    /// Kind.
    pub kind: RouteKind,
    /// Name (`None` for the main one of its kind).
    pub name: Option<String>,
    /// Statements.
    pub body: Vec<Stmt>,
    /// Where the keyword is.
    pub at: Pos,
}

/// A statement.
#[derive(Debug, Clone, PartialEq)]
pub struct Stmt {
    /// What.
    pub kind: StmtKind,
    /// Where it starts.
    pub at: Pos,
}

/// Statement kinds.
#[derive(Debug, Clone, PartialEq)]
pub enum StmtKind {
    /// `name(args);` — a core or module function.
    Call {
        /// Function name.
        name: String,
        /// Arguments.
        args: Vec<Expr>,
    },
    /// `route(NAME);`
    Route(String),
    /// `$pv = expr;` (or `:=`).
    Assign {
        /// PV text.
        pv: String,
        /// Value.
        value: Expr,
    },
    /// `if (cond) ... else ...`
    If {
        /// Condition.
        cond: Expr,
        /// Then branch.
        then: Vec<Stmt>,
        /// Else branch.
        els: Option<Vec<Stmt>>,
    },
    /// `switch (value) { case X: ... default: ... }`
    Switch {
        /// Switched value.
        value: Expr,
        /// Cases in order (`None` label = default).
        cases: Vec<(Option<Expr>, Vec<Stmt>)>,
    },
    /// `while (cond) ...`
    While {
        /// Condition.
        cond: Expr,
        /// Body.
        body: Vec<Stmt>,
    },
    /// `return [expr];`
    Return(Option<Expr>),
    /// `exit;`
    Exit,
    /// `drop;`
    Drop,
    /// `break;`
    Break,
    /// `{ ... }`
    Block(Vec<Stmt>),
}

/// An expression.
#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    /// What.
    pub kind: ExprKind,
    /// Where it starts.
    pub at: Pos,
}

/// Expression kinds.
#[derive(Debug, Clone, PartialEq)]
pub enum ExprKind {
    /// A number.
    Int(i64),
    /// A string.
    Str(Vec<u8>),
    /// A PV, as written.
    Pv(String),
    /// A bare word: `myself`, `UDP`, a flag name, a match-expression
    /// element (`uri`, `src_ip`...).
    Ident(String),
    /// An IPv4 address or network (`10.0.0.0/8`).
    Ip(String),
    /// A function call (`is_method("INVITE")`).
    Call {
        /// Name.
        name: String,
        /// Arguments.
        args: Vec<Expr>,
    },
    /// A unary operator.
    Unary(UnOp, Box<Expr>),
    /// A binary operator.
    Binary(BinOp, Box<Expr>, Box<Expr>),
}

/// Unary operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnOp {
    /// `!`
    Not,
    /// `-`
    Neg,
    /// `~`
    BitNot,
    /// `defined`
    Defined,
    /// `strlen`
    StrLen,
    /// `strempty`
    StrEmpty,
    /// `(int)`: the value as a number
    ToInt,
    /// `(str)`: the value as text
    ToStr,
}

/// Binary operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    /// `||`
    Or,
    /// `&&`
    And,
    /// `|`
    BitOr,
    /// `&`
    BitAnd,
    /// `^`
    BitXor,
    /// `<<`
    Shl,
    /// `>>`
    Shr,
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `=~`
    Match,
    /// `!~`
    NoMatch,
    /// `<`
    Lt,
    /// `>`
    Gt,
    /// `<=`
    Le,
    /// `>=`
    Ge,
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
    /// `mod` (and `%`)
    Mod,
    /// `eq`: equal as strings
    StrEq,
    /// `ne`: different as strings
    StrNe,
    /// `ieq`: equal as integers
    IntEq,
    /// `ine`: different as integers
    IntNe,
}

impl BinOp {
    /// The operator as written.
    pub fn symbol(self) -> &'static str {
        use BinOp::*;
        match self {
            Or => "||",
            And => "&&",
            BitOr => "|",
            BitAnd => "&",
            BitXor => "^",
            Shl => "<<",
            Shr => ">>",
            Eq => "==",
            Ne => "!=",
            Match => "=~",
            NoMatch => "!~",
            Lt => "<",
            Gt => ">",
            Le => "<=",
            Ge => ">=",
            Add => "+",
            Sub => "-",
            Mul => "*",
            Div => "/",
            Mod => "mod",
            StrEq => "eq",
            StrNe => "ne",
            IntEq => "ieq",
            IntNe => "ine",
        }
    }
}
