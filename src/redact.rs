//! Keeps the MongoDB password out of everything we print or store: log lines, errors, run
//! records, panic messages. The password is registered once at startup; every message that
//! leaves the process through an error path goes through [`redact_text`].

use std::sync::{LazyLock, RwLock};

use regex::Regex;

static SECRETS: RwLock<Vec<String>> = RwLock::new(Vec::new());

/// `scheme://user:password@` anywhere in a text.
static USERINFO: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"([a-zA-Z][a-zA-Z0-9+.-]*://[^:/@\s]*):[^@\s]*@").expect("static regex")
});

const MASK: &str = "***";

/// Registers the password of `uri` (if any) as a secret and returns the URI with it masked.
pub fn register_uri(uri: &str) -> String {
    if let Some(password) = password_of(uri) {
        if !password.is_empty() {
            if let Ok(mut s) = SECRETS.write() {
                if !s.contains(&password) {
                    s.push(password.clone());
                    // The driver may print the percent-decoded form.
                    if let Ok(decoded) =
                        percent_encoding::percent_decode_str(&password).decode_utf8()
                    {
                        if decoded != password {
                            s.push(decoded.into_owned());
                        }
                    }
                }
            }
        }
    }
    redact_uri(uri)
}

/// The URI with its password masked.
pub fn redact_uri(uri: &str) -> String {
    USERINFO
        .replace_all(uri, format!("$1:{MASK}@"))
        .into_owned()
}

/// Masks URIs' passwords and every registered secret in a text.
pub fn redact_text(text: &str) -> String {
    let mut out = redact_uri(text);
    if let Ok(secrets) = SECRETS.read() {
        for s in secrets.iter() {
            if out.contains(s.as_str()) {
                out = out.replace(s.as_str(), MASK);
            }
        }
    }
    out
}

/// Replaces the panic hook with one that masks secrets in the message, so a panic can never
/// print the password.
pub fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let payload = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "(no message)".to_owned());
        let location = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        eprintln!("article-etl panicked{location}: {}", redact_text(&payload));
    }));
}

fn password_of(uri: &str) -> Option<String> {
    let rest = uri.split_once("://")?.1;
    let authority = rest.split(['/', '?']).next()?;
    let userinfo = authority.rsplit_once('@')?.0;
    userinfo.split_once(':').map(|(_, p)| p.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_uri_passwords() {
        assert_eq!(
            redact_uri("mongodb://etl:s3cr%40t@db1:27017,db2/?authSource=admin"),
            "mongodb://etl:***@db1:27017,db2/?authSource=admin"
        );
        assert_eq!(redact_uri("mongodb://db1:27017"), "mongodb://db1:27017");
    }

    #[test]
    fn masks_registered_secrets_anywhere() {
        register_uri("mongodb://etl:hunter2%21@db");
        assert_eq!(
            redact_text("auth failed for hunter2! on db"),
            "auth failed for *** on db"
        );
        assert_eq!(
            redact_text("auth failed for hunter2%21"),
            "auth failed for ***"
        );
    }
}
