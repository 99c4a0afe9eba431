//! `MQSHIM_REDIS`: where the queues live when `MQSHIM_BACKEND=redis`, parsed without side
//! effects (no name resolution here: that happens when a connection is made).
//!
//! `redis://[user:password@]host:port[/db][?prefix=NAME]`: host is a name, an IPv4 address or
//! a bracketed IPv6 address; user and password may be percent-encoded; the prefix is the
//! namespace (as `MQSHIM_DIR` is for the emulation) and becomes the hash tag of every key.

/// The default `MQSHIM_REDIS`.
pub const DEFAULT_URL: &str = "redis://127.0.0.1:6379/0";
/// The default key prefix (namespace).
pub const DEFAULT_PREFIX: &str = "mqshim";
/// Longest prefix accepted (keys stay short; a prefix is a name, not data).
pub const MAX_PREFIX: usize = 64;

/// A parsed `MQSHIM_REDIS`.
#[derive(Clone, PartialEq, Eq)]
pub struct RedisUrl {
    /// Host name or address, without brackets.
    pub host: String,
    pub port: u16,
    /// The logical database (`SELECT`), 0 by default.
    pub db: u32,
    /// ACL user for `AUTH user password`; None with a password alone: `AUTH password`.
    pub user: Option<String>,
    pub password: Option<String>,
    /// The namespace: every key is `{prefix}:…`.
    pub prefix: String,
}

impl std::fmt::Debug for RedisUrl {
    /// Never shows the password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.shown())
    }
}

impl Default for RedisUrl {
    fn default() -> RedisUrl {
        RedisUrl { host: "127.0.0.1".into(), port: 6379, db: 0, user: None, password: None, prefix: DEFAULT_PREFIX.into() }
    }
}

impl RedisUrl {
    /// The URL as it may be shown (reports, `mqshim` output): the password replaced by `***`.
    pub fn shown(&self) -> String {
        let auth = match (&self.user, &self.password) {
            (Some(u), Some(_)) => format!("{u}:***@"),
            (None, Some(_)) => ":***@".to_string(),
            (Some(u), None) => format!("{u}@"),
            (None, None) => String::new(),
        };
        let host = if self.host.contains(':') { format!("[{}]", self.host) } else { self.host.clone() };
        let prefix = if self.prefix == DEFAULT_PREFIX { String::new() } else { format!("?prefix={}", self.prefix) };
        format!("redis://{auth}{host}:{}/{}{prefix}", self.port, self.db)
    }

    /// Parses a URL; the error says what is wrong with it (for the configuration report).
    pub fn parse(text: &str) -> Result<RedisUrl, String> {
        let rest = text.strip_prefix("redis://").ok_or_else(|| format!("'{}' does not start with redis://", redact(text)))?;
        let (rest, query) = match rest.split_once('?') {
            Some((r, q)) => (r, Some(q)),
            None => (rest, None),
        };
        let (authority, path) = match rest.split_once('/') {
            Some((a, p)) => (a, p),
            None => (rest, ""),
        };
        let mut url = RedisUrl::default();
        let hostport = match authority.rsplit_once('@') {
            Some((auth, hostport)) => {
                let (user, password) = match auth.split_once(':') {
                    Some((u, p)) => (u, Some(p)),
                    None => (auth, None),
                };
                url.user = (!user.is_empty()).then(|| percent_decode(user)).transpose()?;
                url.password = password.map(percent_decode).transpose()?;
                if url.password.is_none() && url.user.is_some() {
                    // `redis://secret@host`: a lone word is the password, as redis-cli reads it.
                    url.password = url.user.take();
                }
                hostport
            }
            None => authority,
        };
        let (host, port) = if let Some(bracketed) = hostport.strip_prefix('[') {
            let (h, after) = bracketed.split_once(']').ok_or("unclosed '[' in the host")?;
            (h, after.strip_prefix(':'))
        } else {
            match hostport.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (hostport, None),
            }
        };
        if host.is_empty() {
            return Err("no host".into());
        }
        if !host.bytes().all(|b| b.is_ascii_alphanumeric() || b".-_:%".contains(&b)) {
            return Err(format!("'{host}' is not a host name or address"));
        }
        url.host = host.to_string();
        if let Some(p) = port {
            url.port = p.parse().ok().filter(|&p| p != 0).ok_or_else(|| format!("'{p}' is not a port (1-65535)"))?;
        }
        if !path.is_empty() {
            url.db = path.parse().map_err(|_| format!("'/{path}' is not a database number"))?;
        }
        for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            match pair.split_once('=') {
                Some(("prefix", p)) => url.prefix = check_prefix(p)?,
                _ => return Err(format!("unknown parameter '{pair}' (expected prefix=NAME)")),
            }
        }
        Ok(url)
    }
}

/// A prefix is 1 to 64 of `A-Z a-z 0-9 . _ -`: it sits inside a key's hash tag `{…}`.
fn check_prefix(p: &str) -> Result<String, String> {
    if p.is_empty() || p.len() > MAX_PREFIX || !p.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b)) {
        return Err(format!("prefix '{p}' must be 1 to {MAX_PREFIX} of A-Z a-z 0-9 . _ -"));
    }
    Ok(p.to_string())
}

fn percent_decode(s: &str) -> Result<String, String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(h, 16).ok()).ok_or("a '%' not followed by two hex digits in the credentials")?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| "credentials are not UTF-8".to_string())
}

/// `text` with anything between `//` and `@` hidden: a report never shows a password.
pub fn redact(text: &str) -> String {
    match (text.find("//"), text.rfind('@')) {
        (Some(start), Some(at)) if at > start => format!("{}***{}", &text[..start + 2], &text[at..]),
        _ => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_urls_are_read() {
        let u = RedisUrl::parse("redis://app:s%40cret@db.example:6380/3?prefix=jobs-1").unwrap();
        assert_eq!((u.host.as_str(), u.port, u.db), ("db.example", 6380, 3));
        assert_eq!((u.user.as_deref(), u.password.as_deref(), u.prefix.as_str()), (Some("app"), Some("s@cret"), "jobs-1"));
        assert_eq!(u.shown(), "redis://app:***@db.example:6380/3?prefix=jobs-1");
        assert!(!format!("{u:?}").contains("cret"));
    }

    #[test]
    fn defaults_fill_what_is_missing() {
        let u = RedisUrl::parse("redis://10.0.0.2").unwrap();
        assert_eq!(u, RedisUrl { host: "10.0.0.2".into(), ..RedisUrl::default() });
        assert_eq!(RedisUrl::parse(DEFAULT_URL).unwrap(), RedisUrl::default());
        let v6 = RedisUrl::parse("redis://[::1]:7000/1").unwrap();
        assert_eq!((v6.host.as_str(), v6.port, v6.db), ("::1", 7000, 1));
        assert_eq!(v6.shown(), "redis://[::1]:7000/1");
        let pw = RedisUrl::parse("redis://:pw@h:1").unwrap();
        assert_eq!((pw.user, pw.password.as_deref()), (None, Some("pw")));
        let lone = RedisUrl::parse("redis://pw@h").unwrap();
        assert_eq!((lone.user, lone.password.as_deref()), (None, Some("pw")));
    }

    #[test]
    fn bad_urls_say_why_without_the_password() {
        for bad in [
            "http://h",
            "redis://",
            "redis://h:0",
            "redis://h:99999",
            "redis://h:x",
            "redis://h/db",
            "redis://h?prefix=",
            "redis://h?prefix=a{b}",
            "redis://h?x=1",
            "redis://[::1",
            "redis://u:p%zz@h",
            "redis://h h",
        ] {
            assert!(RedisUrl::parse(bad).is_err(), "{bad}");
        }
        let e = RedisUrl::parse("rediss://u:topsecret@h").unwrap_err();
        assert!(!e.contains("topsecret"), "{e}");
    }
}
