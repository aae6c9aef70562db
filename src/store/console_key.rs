//! The key that signs the console's sign-in sessions and CSRF tokens. It lives in the database so that every
//! replica signs and checks with the same one and a restart signs nobody out; whichever replica first needs it
//! makes it.

use sqlx::PgPool;

/// The console's signing key, made (32 random bytes) if there is none yet.
pub async fn get_or_create(pool: &PgPool) -> Result<[u8; 32], sqlx::Error> {
    let candidate: [u8; 32] = rand::random();
    let made_or_found: Option<Vec<u8>> = sqlx::query_scalar(
        "WITH made AS (
             INSERT INTO console_signing_key (id, key) VALUES (1, $1) ON CONFLICT (id) DO NOTHING RETURNING key
         )
         SELECT key FROM made UNION ALL SELECT key FROM console_signing_key WHERE id = 1 LIMIT 1",
    )
    .bind(candidate.as_slice())
    .fetch_optional(pool)
    .await?;
    // Nothing when another replica made it at the same instant, after this statement's snapshot: read it now.
    let key = match made_or_found {
        Some(key) => key,
        None => {
            sqlx::query_scalar("SELECT key FROM console_signing_key WHERE id = 1")
                .fetch_one(pool)
                .await?
        }
    };
    <[u8; 32]>::try_from(key).map_err(|_| sqlx::Error::Decode("the console signing key is not 32 bytes".into()))
}
