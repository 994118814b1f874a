//! Secrets out of messages.
//!
//! Why: error texts from storage clients can quote a signed URL or a connection string, and
//! flowlake's output ends up in logs and tickets. Every store error passes through [`redact`]
//! before it becomes part of an [`crate::Error`].

/// Replaces the values of secret-bearing URL parameters and connection-string fields in an
/// error text (`sig=`, `X-Amz-Signature=`, `AccountKey=`, ...) with `REDACTED`.
pub fn redact(text: &str) -> String {
    const KEYS: [&str; 8] = [
        "sig=",
        "x-amz-signature=",
        "x-amz-credential=",
        "x-amz-security-token=",
        "accountkey=",
        "sharedaccesssignature=",
        "skoid=",
        "sktid=",
    ];
    let lower = text.to_ascii_lowercase();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        let hit = KEYS.iter().find(|k| {
            lower[i..].starts_with(*k)
                && (i == 0 || !lower.as_bytes()[i - 1].is_ascii_alphanumeric())
        });
        match hit {
            Some(k) => {
                out.push_str(&text[i..i + k.len()]);
                out.push_str("REDACTED");
                i += k.len();
                while i < text.len()
                    && !matches!(
                        text.as_bytes()[i],
                        b'&' | b';' | b' ' | b')' | b'"' | b'\'' | b'\n'
                    )
                {
                    i += 1;
                }
            }
            None => {
                let c = text[i..].chars().next().expect("in bounds");
                out.push(c);
                i += c.len_utf8();
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_redacted_from_messages() {
        let m = "error sending request for url (https://a.blob.core.windows.net/c/x?sv=2022&sig=abc%2Bdef&se=1): timeout; AccountName=a;AccountKey=c2VjcmV0==;X-Amz-Signature=deadbeef";
        let r = redact(m);
        for secret in ["abc%2Bdef", "c2VjcmV0", "deadbeef"] {
            assert!(!r.contains(secret), "{r}");
        }
        assert!(
            r.contains("sig=REDACTED&se=1") && r.contains("AccountName=a"),
            "{r}"
        );
    }
}
