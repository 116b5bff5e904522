//! auth's API (Kamailio's `bind_auth_s`): what auth_db (and later other
//! credential stores) call to check a digest response. Bind with
//! `bind_api::<AuthApi>("auth", AUTH_API_VERSION)` in `mod_init`.

use super::Ctx;

/// The version [`AuthApi`] has.
pub const AUTH_API_VERSION: u32 = 1;

/// Kamailio's authentication results (its script return codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthResult {
    /// The credentials' user is not the From/To user (-8).
    UserMismatch = -8,
    /// The nonce was used before (-6).
    NonceReused = -6,
    /// No credentials for the realm (-5).
    NoCredentials = -5,
    /// The nonce has expired (-4).
    StaleNonce = -4,
    /// No such user (-3).
    UserUnknown = -3,
    /// Wrong password (-2).
    InvalidPassword = -2,
    /// Any other error (-1).
    Error = -1,
    /// Authenticated (1).
    Authenticated = 1,
}

/// Which header carries the credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredHeader {
    /// `Authorization` (answered with 401).
    Www,
    /// `Proxy-Authorization` (answered with 407).
    Proxy,
}

/// Digest credentials a request carries (RFC 2617 / RFC 8760).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    /// `username` (as given, `user` or `user@domain`).
    pub username: String,
    /// The user part of `username`.
    pub user: String,
    /// The domain part of `username` (else the realm).
    pub domain: String,
    /// `realm`.
    pub realm: String,
    /// `nonce`.
    pub nonce: String,
    /// `uri`.
    pub uri: String,
    /// `response`.
    pub response: String,
    /// `algorithm` (`MD5` when absent).
    pub algorithm: String,
    /// `qop` (empty when absent).
    pub qop: String,
    /// `nc`.
    pub nc: String,
    /// `cnonce`.
    pub cnonce: String,
    /// The index of the header among the request's headers.
    pub header: usize,
}

/// What [`AuthApi::pre_auth`] finds: the credentials, or the result the
/// check ends with (none for the realm, a stale nonce ...); `Err` when it
/// failed.
pub type PreAuth = Result<Result<Credentials, AuthResult>, String>;

/// auth's functions for other modules.
#[derive(Debug)]
pub struct AuthApi {
    /// The credentials of `realm` in the request, their nonce checked:
    /// `Err` with the result to return when there are none or the nonce
    /// is not good.
    pub pre_auth: fn(&mut Ctx<'_>, realm: &str, CredHeader) -> PreAuth,
    /// Whether the response is right for this HA1 (hex) and method.
    pub check_response: fn(&Ctx<'_>, &Credentials, ha1: &str, method: &[u8]) -> Result<bool, String>,
    /// Marks the credentials authorized (consume_credentials removes
    /// them).
    pub post_auth: fn(&mut Ctx<'_>, &Credentials, ha1: &str) -> Result<AuthResult, String>,
    /// HA1 of a user, realm and password with the credentials' algorithm.
    pub calc_ha1: fn(user: &str, realm: &str, password: &str, algorithm: &str) -> String,
}
