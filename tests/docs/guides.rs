//! The guides cannot drift from what they describe: every JSON policy in the administrator's
//! guide parses and uses real actions, the per-user policy grants each user exactly the calls
//! pail makes in their own folder and nothing in another's, the handed-out config file is a
//! valid IAM Identity Center profile for pail-auth. (The config reference is checked against the
//! CLI in `crates/pail-cli/tests/reference.rs`.)

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::Value;

fn repo() -> PathBuf {
    // Read when the test runs, not when it is built: a build cache shared by two clones
    // must not send the test to the other clone's docs.
    Path::new(&std::env::var_os("CARGO_MANIFEST_DIR").expect("run by cargo test")).join("..")
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(repo().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// The fenced blocks of `lang` in a Markdown text.
fn blocks(text: &str, lang: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        match &mut current {
            None if line.trim() == format!("```{lang}") => current = Some(String::new()),
            Some(b) if line.trim() == "```" => {
                out.push(std::mem::take(b));
                current = None;
            }
            Some(b) => {
                b.push_str(line);
                b.push('\n');
            }
            None => {}
        }
    }
    out
}

fn json_blocks() -> Vec<Value> {
    blocks(&read("docs/admin-guide.md"), "json")
        .iter()
        .map(|b| serde_json::from_str(b).unwrap_or_else(|e| panic!("a JSON block does not parse: {e}\n{b}")))
        .collect()
}

/// Whether a policy is a role trust policy (its statements allow assuming the role).
fn is_trust_policy(p: &Value) -> bool {
    p["Statement"].as_array().is_some_and(|sts| {
        sts.iter()
            .all(|st| list(&st["Action"]).iter().all(|a| a.starts_with("sts:AssumeRole")))
    })
}

/// The permission, bucket and key policies.
fn policies() -> Vec<Value> {
    json_blocks().into_iter().filter(|p| !is_trust_policy(p)).collect()
}

#[test]
fn the_federation_trust_policy_ties_the_session_name_to_the_users_sub() {
    let trust: Vec<Value> = json_blocks().into_iter().filter(is_trust_policy).collect();
    assert_eq!(trust.len(), 1, "one trust policy, for sign-in without Identity Center");
    let st = &trust[0]["Statement"][0];
    assert_eq!(st["Effect"], "Allow");
    assert_eq!(st["Action"], "sts:AssumeRoleWithWebIdentity");
    let provider = st["Principal"]["Federated"].as_str().expect("an OIDC provider");
    let issuer = provider.split(":oidc-provider/").nth(1).expect("an oidc-provider ARN");
    let eq = &st["Condition"]["StringEquals"];
    assert!(eq[format!("{issuer}:aud")].is_string(), "the audience is checked");
    assert_eq!(eq["sts:RoleSessionName"], format!("${{{issuer}:sub}}"));
    // The handed-out profile asks for the same claim pail uses by default.
    let guide = read("docs/admin-guide.md");
    let ini = blocks(&guide, "ini")
        .into_iter()
        .find(|b| b.contains("pail_oidc_issuer"))
        .expect("profile");
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("config");
    std::fs::write(&path, ini).expect("write");
    let profile = pail_auth::load_profile(&path, None, "home").expect("profile");
    let fed = pail_auth::FederatedProfile::from_profile(&profile, &path).expect("federated profile");
    assert_eq!(fed.session_claim, "sub");
    assert!(fed.issuer.ends_with(issuer), "{} vs {issuer}", fed.issuer);
}

fn list(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a.iter().filter_map(|x| x.as_str().map(str::to_owned)).collect(),
        _ => Vec::new(),
    }
}

/// The actions the guide may use (a wildcard must match one of them).
const KNOWN_ACTIONS: &[&str] = &[
    "s3:ListBucket",
    "s3:GetObject",
    "s3:PutObject",
    "s3:DeleteObject",
    "s3:AbortMultipartUpload",
    "s3:GetObjectVersion",
    "s3:DeleteObjectVersion",
    "s3:DeleteBucket",
    "kms:Decrypt",
    "kms:GenerateDataKey",
];

/// IAM's wildcard match (`*` any run, `?` one character).
fn like(pattern: &str, s: &str) -> bool {
    fn go(p: &[char], s: &[char]) -> bool {
        match (p.first(), s.first()) {
            (None, None) => true,
            (Some('*'), _) => go(&p[1..], s) || (!s.is_empty() && go(p, &s[1..])),
            (Some('?'), Some(_)) => go(&p[1..], &s[1..]),
            (Some(a), Some(b)) if a == b => go(&p[1..], &s[1..]),
            _ => false,
        }
    }
    go(&pattern.chars().collect::<Vec<_>>(), &s.chars().collect::<Vec<_>>())
}

#[test]
fn policies_parse_and_use_real_actions() {
    let policies = policies();
    assert_eq!(policies.len(), 3, "permission set, bucket policy, key policy");
    for p in &policies {
        assert_eq!(p["Version"], "2012-10-17");
        let statements = p["Statement"].as_array().expect("Statement list");
        let mut sids = BTreeSet::new();
        for st in statements {
            assert!(sids.insert(st["Sid"].as_str().expect("Sid")), "duplicate Sid");
            assert!(matches!(st["Effect"].as_str(), Some("Allow" | "Deny")));
            for action in list(&st["Action"]) {
                let known = action == "s3:*" || action == "kms:*" || KNOWN_ACTIONS.iter().any(|k| like(&action, k));
                assert!(known, "{action} is not an action the guide should use");
            }
            assert!(
                !list(&st["Resource"]).is_empty() || !list(&st["NotResource"]).is_empty(),
                "every statement names its resources"
            );
        }
    }
}

/// Whether the permission set allows `action` on `resource` for user `uid`, with `prefix` as
/// the ListBucket `s3:prefix`: the Allow statements with `${aws:userid}` substituted.
fn allows(policy: &Value, uid: &str, action: &str, resource: &str, prefix: Option<&str>) -> bool {
    policy["Statement"].as_array().expect("statements").iter().any(|st| {
        let sub = |s: String| s.replace("${aws:userid}", uid);
        st["Effect"] == "Allow"
            && list(&st["Action"]).iter().any(|a| like(a, action))
            && list(&st["Resource"]).into_iter().map(sub).any(|r| like(&r, resource))
            && match st.get("Condition") {
                None => true,
                Some(c) => {
                    let wanted = list(&c["StringLike"]["s3:prefix"]);
                    prefix.is_some_and(|p| wanted.into_iter().map(sub).any(|w| like(&w, p)))
                }
            }
    })
}

#[test]
fn the_permission_set_grants_each_user_their_folder_and_nothing_else() {
    let policy = &policies()[0];
    let (alice, bob) = ("AROAEXAMPLE:alice@example.com", "AROAEXAMPLE:bob@example.com");
    let bucket = "arn:aws:s3:::corp-home-folders";
    // What pail does in Alice's folder.
    for prefix in [format!("{alice}/"), format!("{alice}/Documents/")] {
        assert!(
            allows(policy, alice, "s3:ListBucket", bucket, Some(&prefix)),
            "{prefix}"
        );
    }
    for action in [
        "s3:GetObject",
        "s3:PutObject",
        "s3:DeleteObject",
        "s3:AbortMultipartUpload",
    ] {
        let key = format!("{bucket}/{alice}/Documents/report.docx");
        assert!(allows(policy, alice, action, &key, None), "{action}");
        let other = format!("{bucket}/{bob}/Documents/report.docx");
        assert!(!allows(policy, alice, action, &other, None), "{action} on bob's folder");
    }
    for prefix in ["", &format!("{bob}/"), "AROAEXAMPLE:alice"] {
        assert!(
            !allows(policy, alice, "s3:ListBucket", bucket, Some(prefix)),
            "list {prefix:?}"
        );
    }
}

#[test]
fn the_bucket_policy_denies_unencrypted_uploads_and_bucket_deletion() {
    let bucket_policy = &policies()[1];
    let denies: Vec<&Value> = bucket_policy["Statement"]
        .as_array()
        .expect("statements")
        .iter()
        .filter(|s| s["Effect"] == "Deny")
        .collect();
    let has = |action: &str, cond: &str| {
        denies
            .iter()
            .any(|s| list(&s["Action"]).iter().any(|a| a == action) && s["Condition"].to_string().contains(cond))
    };
    assert!(has("s3:PutObject", "s3:x-amz-server-side-encryption"));
    assert!(has("s3:PutObject", "aws-kms-key-id"));
    assert!(has("s3:*", "aws:SecureTransport"));
    assert!(denies.iter().any(|s| list(&s["Action"]) == ["s3:DeleteBucket"]));
}

#[test]
fn the_handed_out_config_is_a_valid_sso_profile() {
    let config = blocks(&read("docs/admin-guide.md"), "ini")
        .into_iter()
        .find(|b| b.contains("sso_session"))
        .expect("an ini block with an SSO profile");
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("aws-config");
    std::fs::write(&path, config).expect("write");
    let profile = pail_auth::load_profile(&path, None, "home").expect("profile home");
    let sso = pail_auth::SsoProfile::from_profile(&profile, &path).expect("SSO settings");
    assert_eq!(sso.role_name, "S3HomeFolder");
    assert_eq!(sso.scopes, ["sso:account:access"], "refresh tokens, so sessions renew");
}

/// Issue 20: the key is used only through S3, for this bucket, with the two calls S3 makes;
/// the key policy's role pattern also matches Identity Center's roles in us-east-1, whose ARNs
/// have no region segment.
#[test]
fn the_key_is_granted_least_privilege_through_s3_only() {
    let (permission_set, key_policy) = (&policies()[0], &policies()[2]);
    for p in [permission_set, key_policy] {
        let kms: Vec<&Value> = p["Statement"]
            .as_array()
            .expect("statements")
            .iter()
            .filter(|st| st["Effect"] == "Allow" && list(&st["Action"]).iter().any(|a| a.starts_with("kms:")))
            .filter(|st| list(&st["Action"]) != ["kms:*"])
            .collect();
        assert_eq!(kms.len(), 1, "one statement grants the key's use");
        let st = kms[0];
        assert_eq!(list(&st["Action"]), ["kms:GenerateDataKey", "kms:Decrypt"]);
        let cond = &st["Condition"]["StringEquals"];
        assert_eq!(cond["kms:ViaService"], "s3.eu-west-1.amazonaws.com");
        assert_eq!(
            cond["kms:EncryptionContext:aws:s3:arn"],
            "arn:aws:s3:::corp-home-folders"
        );
    }
    let pattern = key_policy.to_string();
    let pattern = pattern
        .split('"')
        .find(|s| s.contains("AWSReservedSSO_S3HomeFolder_"))
        .expect("a role pattern");
    for role in [
        "arn:aws:iam::111122223333:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_S3HomeFolder_0123456789abcdef",
        "arn:aws:iam::111122223333:role/aws-reserved/sso.amazonaws.com/eu-west-1/AWSReservedSSO_S3HomeFolder_0123456789abcdef",
    ] {
        assert!(like(pattern, role), "{pattern} must match {role}");
    }
}

/// Issue 20: whatever else a principal is granted, the bucket policy keeps it in the folder
/// named after its own `aws:userid`, except the listed administrator roles.
#[test]
fn the_bucket_policy_confines_everyone_but_admins_to_their_own_folder() {
    let bucket_policy = &policies()[1];
    let st = bucket_policy["Statement"]
        .as_array()
        .expect("statements")
        .iter()
        .find(|st| st["Effect"] == "Deny" && st.get("NotResource").is_some())
        .expect("a deny outside the own folder");
    assert_eq!(
        list(&st["NotResource"]),
        ["arn:aws:s3:::corp-home-folders/${aws:userid}/*"]
    );
    for action in [
        "s3:GetObject",
        "s3:PutObject",
        "s3:DeleteObject",
        "s3:AbortMultipartUpload",
    ] {
        assert!(list(&st["Action"]).iter().any(|a| a == action), "{action}");
    }
    let admins = list(&st["Condition"]["ArnNotLike"]["aws:PrincipalArn"]);
    assert!(
        !admins.is_empty() && admins.iter().all(|a| a.contains("Admin")),
        "{admins:?}"
    );
}

/// The `parliament` linter (PyPI), which `./dev test` installs: `PAIL_PARLIAMENT`, else the
/// tests' virtual environment.
fn parliament() -> PathBuf {
    std::env::var_os("PAIL_PARLIAMENT")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let home = std::env::var_os("HOME").expect("HOME");
            Path::new(&home).join(".cache/pail/test-venv/bin/parliament")
        })
}

/// Issue 20: every permission, bucket and key policy in the guide passes parliament with no
/// finding of medium severity or above (its low findings are about key policies' required
/// `Resource: "*"` and an S3 condition key typed as a string; trust policies are not its
/// subject).
#[test]
fn parliament_finds_nothing_wrong_with_the_policies() {
    let tool = parliament();
    for p in policies() {
        let out = std::process::Command::new(&tool)
            .args(["--minimum_severity", "MEDIUM", "--string", &p.to_string()])
            .output()
            .unwrap_or_else(|e| panic!("cannot run {} ({e}): ./dev test installs it", tool.display()));
        let said = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && said.trim().is_empty(),
            "parliament: {said}\n{p:#}"
        );
    }
}
