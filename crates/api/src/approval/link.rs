//! An approval link: a task token, what clicking does (approve or reject) and until when,
//! signed with HMAC-SHA256 under the server's key. The signature covers all three, so a
//! link cannot be turned into the other action, outlive its expiry or point at another
//! task without the key. Checking uses the MAC's constant-time comparison.

use base64::Engine;
use hmac::{KeyInit, Mac};

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// The shortest key accepted: HMAC-SHA256's own output size.
pub const MIN_KEY_BYTES: usize = 32;

/// Names this link format inside the signed text, so a signature made for anything else
/// under the same key (or a later format) never verifies as this one.
const DOMAIN: &str = "cairn-approval-link-v1";

/// What a link does when its button is pressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Approve,
    Reject,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Approve => "approve",
            Action::Reject => "reject",
        }
    }

    pub fn parse(text: &str) -> Option<Action> {
        match text {
            "approve" => Some(Action::Approve),
            "reject" => Some(Action::Reject),
            _ => None,
        }
    }
}

/// The server's signing key.
#[derive(Clone)]
pub struct SigningKey(Vec<u8>);

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey(<redacted>)")
    }
}

/// The key is shorter than [`MIN_KEY_BYTES`].
#[derive(Debug, thiserror::Error)]
#[error("the approval key must be at least {MIN_KEY_BYTES} bytes, got {0}")]
pub struct ShortKey(pub usize);

impl SigningKey {
    pub fn new(key: &[u8]) -> Result<SigningKey, ShortKey> {
        if key.len() < MIN_KEY_BYTES {
            return Err(ShortKey(key.len()));
        }
        Ok(SigningKey(key.to_vec()))
    }

    fn mac(&self, link: &Link<'_>) -> HmacSha256 {
        // HMAC takes keys of any length, so this cannot fail; `new` checked the length.
        let mut mac = match HmacSha256::new_from_slice(&self.0) {
            Ok(mac) => mac,
            Err(_) => unreachable!("HMAC accepts keys of every length"),
        };
        // NUL separators: none of the fields can contain one (the token is checked).
        for part in [
            DOMAIN,
            link.action.as_str(),
            &link.expires.to_string(),
            link.token,
        ] {
            mac.update(part.as_bytes());
            mac.update(&[0]);
        }
        mac
    }

    /// The signature of `link`, base64url without padding.
    pub fn sign(&self, link: &Link<'_>) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(self.mac(link).finalize().into_bytes())
    }

    /// Whether `signature` is this key's signature of `link` (constant-time).
    pub fn verify(&self, link: &Link<'_>, signature: &str) -> bool {
        let Ok(bytes) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(signature) else {
            return false;
        };
        self.mac(link).verify_slice(&bytes).is_ok()
    }
}

/// The signed fields of a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Link<'a> {
    pub token: &'a str,
    pub action: Action,
    /// Unix seconds after which the link is refused.
    pub expires: i64,
}

impl Link<'_> {
    /// The query string of the link (also the fields its confirmation form posts).
    pub fn query(&self, key: &SigningKey) -> String {
        form_urlencoded::Serializer::new(String::new())
            .append_pair("token", self.token)
            .append_pair("action", self.action.as_str())
            .append_pair("expires", &self.expires.to_string())
            .append_pair("signature", &key.sign(self))
            .finish()
    }
}

/// The fields of a link as a request carries them (query string or form body), unchecked.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Fields {
    pub token: Option<String>,
    pub action: Option<String>,
    pub expires: Option<String>,
    pub signature: Option<String>,
}

impl Fields {
    pub fn parse(encoded: &[u8]) -> Fields {
        let mut fields = Fields::default();
        for (name, value) in form_urlencoded::parse(encoded) {
            let slot = match name.as_ref() {
                "token" => &mut fields.token,
                "action" => &mut fields.action,
                "expires" => &mut fields.expires,
                "signature" => &mut fields.signature,
                _ => continue,
            };
            // The first occurrence wins; a repeated field cannot smuggle a second value.
            if slot.is_none() {
                *slot = Some(value.into_owned());
            }
        }
        fields
    }
}

/// Why a link is refused before the store is asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// A field is missing or malformed, or the signature does not match.
    Invalid,
    /// The signature matches but the expiry has passed.
    Expired,
}

/// Checks `fields` against `key` at `now` (unix seconds). The signature is checked
/// before the expiry, so an unsigned link never learns whether its time is up.
pub fn check<'a>(key: &SigningKey, fields: &'a Fields, now: i64) -> Result<Link<'a>, Refusal> {
    let (Some(token), Some(action), Some(expires), Some(signature)) = (
        fields.token.as_deref(),
        fields.action.as_deref(),
        fields.expires.as_deref(),
        fields.signature.as_deref(),
    ) else {
        return Err(Refusal::Invalid);
    };
    let action = Action::parse(action).ok_or(Refusal::Invalid)?;
    let expires: i64 = expires.parse().map_err(|_| Refusal::Invalid)?;
    if token.is_empty() || token.contains('\0') {
        return Err(Refusal::Invalid);
    }
    let link = Link {
        token,
        action,
        expires,
    };
    if !key.verify(&link, signature) {
        return Err(Refusal::Invalid);
    }
    if now >= expires {
        return Err(Refusal::Expired);
    }
    Ok(link)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SigningKey {
        SigningKey::new(&[7u8; 32]).expect("32 bytes")
    }

    fn fields_of(query: &str) -> Fields {
        Fields::parse(query.as_bytes())
    }

    #[test]
    fn a_short_key_is_refused() {
        assert!(SigningKey::new(&[0u8; 31]).is_err());
    }

    #[test]
    fn a_signed_link_checks_and_every_change_breaks_it() {
        let link = Link {
            token: "tok+/=en",
            action: Action::Approve,
            expires: 2_000,
        };
        let query = link.query(&key());
        let fields = fields_of(&query);
        assert_eq!(check(&key(), &fields, 1_000), Ok(link));

        let other_action = query.replace("action=approve", "action=reject");
        assert_eq!(
            check(&key(), &fields_of(&other_action), 1_000),
            Err(Refusal::Invalid)
        );
        let later = query.replace("expires=2000", "expires=3000");
        assert_eq!(
            check(&key(), &fields_of(&later), 1_000),
            Err(Refusal::Invalid)
        );
        let other_key = SigningKey::new(&[8u8; 32]).expect("32 bytes");
        assert_eq!(check(&other_key, &fields, 1_000), Err(Refusal::Invalid));
        assert_eq!(check(&key(), &fields, 2_000), Err(Refusal::Expired));
        assert_eq!(
            check(&key(), &fields_of("token=a&action=approve&expires=9"), 1),
            Err(Refusal::Invalid)
        );
    }
}
