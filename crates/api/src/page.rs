//! Pagination tokens: opaque to clients, a cursor to us. A token names the operation it
//! belongs to, so a token from one list replayed to another is an `InvalidToken`.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use crate::error::ApiError;
use crate::input::check_length;

/// Encodes `cursor` for the list `operation`.
pub fn encode(operation: &str, cursor: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{operation}\n{cursor}"))
}

/// Decodes a `nextToken` member of `operation`; `max` is the model's length limit.
pub fn decode(operation: &str, token: &str, max: usize) -> Result<String, ApiError> {
    check_length("nextToken", token, 1, max, false)?;
    let invalid = || ApiError::InvalidToken(format!("Invalid token: {token}"));
    let bytes = URL_SAFE_NO_PAD.decode(token).map_err(|_| invalid())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    let (kind, cursor) = text.split_once('\n').ok_or_else(invalid)?;
    if kind != operation {
        return Err(invalid());
    }
    Ok(cursor.to_string())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_per_operation() {
        let token = encode("ListExecutions", "123 arn:x");
        assert_eq!(decode("ListExecutions", &token, 3096).unwrap(), "123 arn:x");
        assert!(matches!(
            decode("ListActivities", &token, 1024),
            Err(ApiError::InvalidToken(_))
        ));
        assert!(matches!(
            decode("ListActivities", "%%%", 1024),
            Err(ApiError::InvalidToken(_))
        ));
        assert!(matches!(
            decode("ListActivities", "", 1024),
            Err(ApiError::Validation(_))
        ));
    }
}
