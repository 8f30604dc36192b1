//! Service URLs: the normalisation CAS allows before comparing (scheme and host case,
//! default port), and adding the ticket to the redirect. Everything else is compared
//! exactly: path, query and fragment byte for byte.

/// Longest `service` (or `pgtUrl`, `targetService`) accepted.
pub const MAX_URL: usize = 2048;

/// `url` with its scheme and host lower-cased and a default port (`:443` for https, `:80`
/// for http) removed. `None` for anything that is not an absolute http(s) URL with a
/// host and no user information, or that holds spaces or control characters.
pub fn normalise(url: &str) -> Option<String> {
    if url.is_empty()
        || url.len() > MAX_URL
        || url.chars().any(|c| c.is_control() || c.is_whitespace())
    {
        return None;
    }
    let (scheme, rest) = url.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "https" => "443",
        "http" => "80",
        _ => return None,
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    if authority.is_empty() || authority.contains('@') || authority.contains('\\') {
        return None;
    }
    let (host, port) = if let Some(stripped) = authority.strip_prefix('[') {
        let (h, after) = stripped.split_once(']')?;
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':')?),
        };
        (format!("[{}]", h.to_ascii_lowercase()), port)
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h.to_ascii_lowercase(), Some(p)),
            None => (authority.to_ascii_lowercase(), None),
        }
    };
    if host.is_empty() || host == "[]" {
        return None;
    }
    let port = match port {
        Some(p) if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) => return None,
        Some(p) if p == default_port => None,
        p => p,
    };
    Some(match port {
        Some(p) => format!("{scheme}://{host}:{p}{tail}"),
        None => format!("{scheme}://{host}{tail}"),
    })
}

/// `url` with `name=value` added to its query (before any fragment).
pub fn with_param(url: &str, name: &str, value: &str) -> String {
    let (base, fragment) = match url.split_once('#') {
        Some((b, f)) => (b, Some(f)),
        None => (url, None),
    };
    let sep = if base.contains('?') { '&' } else { '?' };
    let mut out = format!("{base}{sep}{name}={}", encode(value));
    if let Some(f) = fragment {
        out.push('#');
        out.push_str(f);
    }
    out
}

/// Escapes text for an HTML attribute or element.
pub fn html_escape(s: &str) -> String {
    super::response::escape(s)
}

/// Percent-encodes everything but unreserved characters.
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let h = hex(*bytes.get(i + 1)?)?;
                let l = hex(*bytes.get(i + 2)?)?;
                out.push(h * 16 + l);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// The parameters of a query string or form body; `None` when one is badly encoded or
/// when a name comes twice (an ambiguous request is refused, not guessed).
pub fn parse_params(query: &str) -> Option<Vec<(String, String)>> {
    let mut out: Vec<(String, String)> = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let k = decode(k)?;
        if out.iter().any(|(n, _)| *n == k) {
            return None;
        }
        out.push((k, decode(v)?));
    }
    Some(out)
}

/// The value of `name` in parsed parameters.
pub fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// A CAS boolean parameter: present and not `false` (the spec's `renew=true`; some clients
/// send `renew` alone or `renew=1`).
pub fn flag(params: &[(String, String)], name: &str) -> bool {
    param(params, name).is_some_and(|v| !v.eq_ignore_ascii_case("false") && v != "0")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn normalises_scheme_host_and_default_port_only() {
        assert_eq!(
            normalise("HTTPS://Host.Example:443/Path?q=A#F").unwrap(),
            "https://host.example/Path?q=A#F"
        );
        assert_eq!(normalise("http://h:8080/x").unwrap(), "http://h:8080/x");
        assert_eq!(normalise("http://h:80").unwrap(), "http://h");
        assert_eq!(normalise("https://[::1]:443/").unwrap(), "https://[::1]/");
        for bad in [
            "",
            "ftp://h/",
            "https://",
            "https://user@h/",
            "https://h:x/",
            "https://h /",
            "/relative",
            "javascript:alert(1)",
        ] {
            assert_eq!(normalise(bad), None, "{bad}");
        }
    }

    #[test]
    fn adds_the_ticket_before_the_fragment() {
        assert_eq!(
            with_param("https://h/a", "ticket", "ST-1"),
            "https://h/a?ticket=ST-1"
        );
        assert_eq!(
            with_param("https://h/a?x=1#f", "ticket", "ST-1"),
            "https://h/a?x=1&ticket=ST-1#f"
        );
    }

    #[test]
    fn parses_params_strictly() {
        let p = parse_params("service=https%3A%2F%2Fh%2F&renew=true&x").unwrap();
        assert_eq!(param(&p, "service"), Some("https://h/"));
        assert!(flag(&p, "renew"));
        assert!(flag(&p, "x"));
        assert!(!flag(&p, "gateway"));
        assert!(parse_params("a=1&a=2").is_none());
        assert!(parse_params("a=%zz").is_none());
        assert!(parse_params("a=%ff").is_none());
    }
}
