//! The configuration's loading, defaults and errors.

use std::path::PathBuf;

use figment::Figment;
use figment::providers::{Format, Toml};

use super::*;
use crate::domain::Scope;

/// The tokens of a plain list, as `api.tokens` reads them.
fn plain_tokens(values: &[&str]) -> Vec<ApiToken> {
    values
        .iter()
        .enumerate()
        .map(|(i, value)| ApiToken::from_value(format!("token-{}", i + 1), Scope::Operate, value))
        .collect()
}

fn load(env: &[(&str, &str)]) -> anyhow::Result<Settings> {
    let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string()));
    Settings::load_with_env(&ConfigFile::Named(PathBuf::from("config.toml")), env)
}

/// Every key of a value, as dotted paths (an array is a leaf).
fn keys(value: &serde_json::Value, prefix: &str, into: &mut std::collections::BTreeSet<String>) {
    if let Some(map) = value.as_object() {
        for (key, inner) in map {
            let path = if prefix.is_empty() {
                key.clone()
            } else {
                format!("{prefix}.{key}")
            };
            keys(inner, &path, into);
            into.insert(path);
        }
    }
}

#[test]
fn config_toml_lists_every_key_with_its_default() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/config.toml");
    let file: serde_json::Value = Figment::from(Toml::file(path)).extract().expect("config.toml parses");
    let mut defaults = serde_json::to_value(Settings::default()).expect("the defaults serialise");
    // `[[followups]]` entries are examples there, commented out: there are none by default.
    if let Some(sections) = defaults.as_object_mut() {
        sections.remove("followups");
    }
    let (mut listed, mut known) = (Default::default(), Default::default());
    keys(&file, "", &mut listed);
    keys(&defaults, "", &mut known);
    assert_eq!(listed, known, "config.toml lists the keys Settings has");
    // The values as read: a relative archive folder is the same folder written as a file:// URL.
    let read: Settings = Figment::from(Toml::file(path))
        .extract()
        .expect("config.toml is settings");
    let mut read = serde_json::to_value(read).expect("the settings serialise");
    if let Some(sections) = read.as_object_mut() {
        sections.remove("followups");
    }
    assert_eq!(read, defaults, "config.toml and Settings::default() disagree");
}

#[test]
fn defaults_match_the_documented_values() {
    let s = Settings::default();
    assert_eq!(s.server.bind.to_string(), "0.0.0.0:8080");
    assert_eq!(s.server.body_limit_bytes.get(), 262_144);
    assert_eq!(s.server.request_timeout, Duration::from_secs(10));
    assert_eq!(s.database.max_connections.get(), 16);
    assert!(s.api.tokens.is_empty());
}

#[test]
fn environment_overrides_the_file_and_conventional_variables_are_honoured() {
    let s = load(&[
        ("RTK_SESSIONS__SERVER__BIND", "127.0.0.1:9999"),
        ("DATABASE_URL", "postgres://u@db:5432/x"),
        ("CLOUDFLARE_API_TOKEN", "cf-token"),
        (
            "RTK_SESSIONS__API__TOKENS",
            "one-0123456789abcdef0123456789abcdef, two-0123456789abcdef0123456789abcdef",
        ),
        ("RTK_SESSIONS__DATABASE__MAX_CONNECTIONS", "4"),
        ("RTK_SESSIONS__REALTIMEKIT__ACCOUNT_ID", "0012"),
    ])
    .expect("valid configuration");
    assert_eq!(s.database.max_connections.get(), 4);
    assert_eq!(s.realtimekit.account_id, "0012");
    assert_eq!(s.server.bind.to_string(), "127.0.0.1:9999");
    assert_eq!(s.database.url.expose(), "postgres://u@db:5432/x");
    assert_eq!(s.realtimekit.api_token.expose(), "cf-token");
    assert_eq!(
        s.api.tokens,
        plain_tokens(&[
            "one-0123456789abcdef0123456789abcdef",
            "two-0123456789abcdef0123456789abcdef"
        ])
    );
}

#[test]
fn tokens_may_be_written_as_a_toml_array_in_the_environment() {
    let s = load(&[(
        "RTK_SESSIONS__API__TOKENS",
        r#"["one-0123456789abcdef0123456789abcdef", "00420000000000000000000000000000000042"]"#,
    )])
    .expect("valid configuration");
    assert_eq!(
        s.api.tokens,
        plain_tokens(&[
            "one-0123456789abcdef0123456789abcdef",
            "00420000000000000000000000000000000042"
        ])
    );
}

#[test]
fn numeric_looking_tokens_stay_text() {
    let s =
        load(&[("RTK_SESSIONS__API__TOKENS", "00420000000000000000000000000000000042")]).expect("valid configuration");
    assert_eq!(s.api.tokens, plain_tokens(&["00420000000000000000000000000000000042"]));
    let dir = std::env::temp_dir().join(format!("rtk-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("tokens.toml");
    std::fs::write(
        &file,
        "[api]\ntokens = [\"00420000000000000000000000000000000042\", \"abc-0123456789abcdef0123456789abcdef\"]\n",
    )
    .expect("write");
    let s = Settings::load_with_env(&ConfigFile::Named(file), Vec::new()).expect("valid configuration");
    assert_eq!(
        s.api.tokens,
        plain_tokens(&[
            "00420000000000000000000000000000000042",
            "abc-0123456789abcdef0123456789abcdef"
        ])
    );
}

#[test]
fn followups_are_read_from_the_file_and_a_bad_one_is_named() {
    let dir = std::env::temp_dir().join(format!("rtk-config-f-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("followups.toml");
    std::fs::write(
        &file,
        "[worker]\nconcurrency = 2\n\n[[followups]]\nkind = \"slack\"\nname = \"team\"\nurl = \"https://hooks.example.com/x\"\n\n\
         [[followups]]\nkind = \"webhook\"\nenabled = false\nurl = \"https://example.com/h\"\nsecret = \"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"\n",
    )
    .expect("write");
    let s = Settings::load_with_env(&ConfigFile::Named(file.clone()), Vec::new()).expect("valid");
    assert_eq!(s.worker.concurrency.get(), 2);
    assert_eq!(s.followups.len(), 2);
    assert_eq!(s.followups[0].name.as_deref(), Some("team"));
    assert!(!s.followups[1].enabled);
    assert!(!format!("{s:?}").contains("whsec_"), "follow-up secrets are redacted");

    std::fs::write(&file, "[[followups]]\nkind = \"pager\"\n").expect("write");
    let error = Settings::load_with_env(&ConfigFile::Named(file), Vec::new()).expect_err("an unknown kind");
    assert!(
        error.to_string().contains("pager") && error.to_string().contains("disable_meeting"),
        "{error}"
    );
}

#[test]
fn the_prefixed_variable_wins_over_the_conventional_one() {
    let s = load(&[
        ("DATABASE_URL", "postgres://u@db:5432/conventional"),
        ("RTK_SESSIONS__DATABASE__URL", "postgres://u@db:5432/prefixed"),
    ])
    .expect("valid configuration");
    assert_eq!(s.database.url.expose(), "postgres://u@db:5432/prefixed");
}

#[test]
fn invalid_values_name_their_key() {
    let cases: &[(&[(&str, &str)], &str)] = &[
        (&[("RTK_SESSIONS__SERVER__BIND", "nonsense")], "server.bind"),
        (
            &[("RTK_SESSIONS__SERVER__BODY_LIMIT_BYTES", "lots")],
            "server.body_limit_bytes",
        ),
        (
            &[("RTK_SESSIONS__SERVER__REQUEST_TIMEOUT_SECS", "0")],
            "server.request_timeout_secs",
        ),
        (&[("RTK_SESSIONS__SERVER__PUBLIC_URL", "ftp://x")], "server.public_url"),
        (&[("RTK_SESSIONS__DATABASE__URL", "mysql://secret@x")], "database.url"),
        (
            &[
                ("RTK_SESSIONS__REALTIMEKIT__PUBLIC_KEY_PEM", "pem"),
                ("RTK_SESSIONS__REALTIMEKIT__PUBLIC_KEY_FILE", "key.pem"),
            ],
            "realtimekit.public_key_pem",
        ),
        (&[("RTK_SESSIONS__SERVER__NO_SUCH_KEY", "1")], "no_such_key"),
        (
            &[("RTK_SESSIONS__REGISTRATION__EVENTS", "meeting.ended,meeting.exploded")],
            "registration.events",
        ),
        (
            &[("RTK_SESSIONS__RECONCILE__INTERVAL_SECS", "0")],
            "reconcile.interval_secs",
        ),
    ];
    for (env, key) in cases {
        let error = load(env)
            .err()
            .unwrap_or_else(|| panic!("{env:?} must be rejected"))
            .to_string();
        assert!(error.contains(key), "error for {env:?} should name {key}: {error}");
        assert!(
            !error.contains("secret@"),
            "the database URL must not be echoed: {error}"
        );
    }
}

#[test]
fn a_missing_named_file_is_an_error_but_a_missing_default_file_is_fine() {
    let named = ConfigFile::Named(PathBuf::from("/nonexistent/rtk.toml"));
    assert!(Settings::load_with_env(&named, Vec::new()).is_err());
    // The crate root has no config.toml of its own in tests' working directory unless the repo ships one,
    // which must then be valid as well.
    assert!(Settings::load_with_env(&ConfigFile::Default, Vec::new()).is_ok());
}

#[test]
fn secrets_are_redacted_in_debug_output() {
    let mut s = Settings::default();
    s.api.tokens = plain_tokens(&["very-secret-token"]);
    s.realtimekit.api_token = Secret::new("cf-secret");
    let printed = format!("{s:?}");
    assert!(!printed.contains("very-secret-token"));
    assert!(!printed.contains("cf-secret"));
    assert!(printed.contains("[redacted]"));
}

#[test]
fn a_token_list_of_the_wrong_type_says_what_it_expects_and_where_it_was_set() {
    let dir = std::env::temp_dir().join(format!("rtk-config-t-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("tokens.toml");
    std::fs::write(&file, "[api]\ntokens = 5\n").expect("write");
    let error = Settings::load_with_env(&ConfigFile::Named(file), Vec::new())
        .expect_err("refused")
        .to_string();
    assert!(
        error.contains("api.tokens: expected a list of tokens") && error.contains("tokens.toml"),
        "{error}"
    );
    assert!(!error.contains("untagged"), "{error}");
}

#[test]
fn log_levels_are_checked_like_every_other_key() {
    for good in ["info", "warn", "rtk_sessions=debug,info", "off", "sqlx=warn, info"] {
        assert!(load(&[("RTK_SESSIONS__LOG__LEVEL", good)]).is_ok(), "{good}");
    }
    for bad in ["nonsense level", "[[[", "", "rtk_sessions", "=debug", "info,"] {
        let error = load(&[("RTK_SESSIONS__LOG__LEVEL", bad)]).expect_err(bad).to_string();
        assert!(error.contains("log.level"), "{bad}: {error}");
    }
}

#[test]
fn named_tokens_carry_a_scope_and_a_digest_or_a_value() {
    let digest = hex::encode(crate::domain::access::token_sha256("support-secret"));
    let dir = std::env::temp_dir().join(format!("rtk-config-scoped-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("scoped.toml");
    std::fs::write(
        &file,
        format!(
            "[[api.tokens]]\nname = \"support\"\nscope = \"read\"\nsha256 = \"{digest}\"\n\n\
             [[api.tokens]]\nname = \"on-call\"\nscope = \"operate\"\ntoken = \"oncall-secret-0123456789abcdef0123456789\"\n"
        ),
    )
    .expect("write");
    let s = Settings::load_with_env(&ConfigFile::Named(file), Vec::new()).expect("valid configuration");
    assert_eq!(
        s.api.tokens,
        vec![
            ApiToken::from_value("support", Scope::Read, "support-secret"),
            ApiToken::from_value("on-call", Scope::Operate, "oncall-secret-0123456789abcdef0123456789"),
        ]
    );
    let printed = format!("{s:?}");
    assert!(
        !printed.contains("oncall-secret-0123456789abcdef0123456789") && !printed.contains(&digest),
        "{printed}"
    );
}

#[test]
fn a_bad_token_entry_is_named_with_what_is_wrong() {
    let cases = [
        ("[[api.tokens]]\nscope = \"read\"\ntoken = \"x\"\n", "name is required"),
        ("[[api.tokens]]\nname = \"a\"\ntoken = \"x\"\n", "scope is required"),
        (
            "[[api.tokens]]\nname = \"a\"\nscope = \"admin\"\ntoken = \"x\"\n",
            "not a token scope",
        ),
        (
            "[[api.tokens]]\nname = \"a\"\nscope = \"read\"\n",
            "exactly one of sha256",
        ),
        (
            "[[api.tokens]]\nname = \"a\"\nscope = \"read\"\nsha256 = \"abc\"\n",
            "64 hexadecimal",
        ),
        (
            "[[api.tokens]]\nname = \"a\"\nscope = \"read\"\ntoken = \"x0123456789abcdef0123456789abcdef\"\nrole = \"y\"\n",
            "unknown key",
        ),
        (
            "[[api.tokens]]\nname = \"a\"\nscope = \"read\"\ntoken = \"x0123456789abcdef0123456789abcdef\"\n\n[[api.tokens]]\nname = \"a\"\nscope = \"read\"\ntoken = \"y0123456789abcdef0123456789abcdef\"\n",
            "names must be unique",
        ),
        (
            "[[api.tokens]]\nname = \"a\"\nscope = \"read\"\ntoken = \"x\"\n",
            "shorter than 32 characters",
        ),
    ];
    let dir = std::env::temp_dir().join(format!("rtk-config-bad-token-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    for (index, (text, expected)) in cases.into_iter().enumerate() {
        let file = dir.join(format!("bad-{index}.toml"));
        std::fs::write(&file, text).expect("write");
        let error = Settings::load_with_env(&ConfigFile::Named(file), Vec::new())
            .expect_err(expected)
            .to_string();
        assert!(
            error.contains("api.tokens") && error.contains(expected),
            "{expected}: {error}"
        );
        assert!(
            !error.contains("\"x") && !error.contains("\"y"),
            "the token's value is not repeated: {error}"
        );
    }
}

#[test]
fn named_tokens_in_the_environment_are_refused_not_read_as_plain_tokens() {
    let error = load(&[(
        "RTK_SESSIONS__API__TOKENS",
        r#"[{name="support",scope="read",token="x"}]"#,
    )])
    .expect_err("refused")
    .to_string();
    assert!(
        error.contains("api.tokens") && error.contains("configuration file"),
        "{error}"
    );
    assert!(error.contains("RTK_SESSIONS__API__TOKENS"), "{error}");
}

fn load_file(toml: &str, env: &[(&str, &str)]) -> anyhow::Result<(Settings, load::Sources)> {
    let path = std::env::temp_dir().join(format!("rtk-config-{}.toml", uuid::Uuid::new_v4().simple()));
    std::fs::write(&path, toml).expect("write the file");
    let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string()));
    let loaded = Settings::load_explained(&ConfigFile::Named(path.clone()), env);
    let _ = std::fs::remove_file(path);
    loaded
}

#[test]
fn apps_come_from_the_shorthand_the_file_and_numbered_variables() {
    let file = r#"
        [realtimekit]
        account_id = "acc"
        app_id = "prod"
        api_token = "shared-token"

        [[realtimekit.apps]]
        app_id = "staging"
        name = "staging"
    "#;
    let (s, sources) = load_file(
        file,
        &[
            ("RTK_SESSIONS__REALTIMEKIT__APPS__0__API_TOKEN", "staging-token"),
            ("RTK_SESSIONS__REALTIMEKIT__APPS__1__APP_ID", "customer-b"),
            ("RTK_SESSIONS__REALTIMEKIT__APPS__1__ACCOUNT_ID", "acc-b"),
        ],
    )
    .expect("valid");
    let apps = s.realtimekit.apps();
    let shown: Vec<(&str, &str, &str)> = apps
        .iter()
        .map(|a| (a.app_id.as_str(), a.account_id.as_str(), a.api_token.expose()))
        .collect();
    assert_eq!(
        shown,
        vec![
            ("prod", "acc", "shared-token"),
            ("staging", "acc", "staging-token"),
            ("customer-b", "acc-b", "shared-token"),
        ]
    );
    assert_eq!(apps.get("staging").map(App::label), Some("staging"));
    assert!(
        sources
            .of("realtimekit.apps")
            .contains("RTK_SESSIONS__REALTIMEKIT__APPS__1__APP_ID")
    );
    // Tokens never show in what `config check` prints.
    let printed = serde_json::to_string(&s).expect("serialises");
    assert!(!printed.contains("staging-token") && !printed.contains("shared-token"));
}

#[test]
fn an_app_given_twice_a_gap_or_an_unknown_key_is_refused_by_name() {
    let twice = "[realtimekit]\napp_id = \"a\"\n[[realtimekit.apps]]\napp_id = \"a\"\n";
    let error = load_file(twice, &[]).err().expect("refused").to_string();
    assert!(error.contains("app a is configured twice"), "{error}");
    let no_id = "[[realtimekit.apps]]\nname = \"x\"\n";
    let error = load_file(no_id, &[]).err().expect("refused").to_string();
    assert!(error.contains("realtimekit.apps"), "{error}");
    let gap = load_file("", &[("RTK_SESSIONS__REALTIMEKIT__APPS__2__APP_ID", "x")]);
    let error = gap.err().expect("refused").to_string();
    assert!(
        error.contains("RTK_SESSIONS__REALTIMEKIT__APPS__2__APP_ID") && error.contains("no entry 2"),
        "{error}"
    );
    let unknown = load_file("", &[("RTK_SESSIONS__REALTIMEKIT__APPS__0__TOKEN", "x")]);
    let error = unknown.err().expect("refused").to_string();
    assert!(error.contains("no such key"), "{error}");
}

#[test]
fn the_default_subscription_is_every_event_the_service_uses() {
    let subscribed: Vec<String> = Figment::from(Toml::string(DEFAULTS))
        .extract_inner("registration.events")
        .expect("config.toml lists the events");
    let used: Vec<&str> = crate::domain::REALTIMEKIT_EVENTS
        .into_iter()
        .filter(|e| crate::domain::delivery::event_use(e).is_some())
        .collect();
    assert_eq!(subscribed, used);
}
