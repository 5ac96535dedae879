//! `trainctl profile add|list|show|remove|test`: manage connection profiles. The endpoint and
//! region come from the global `--endpoint-url` / `--region` flags; a secret is read from stdin
//! or a no-echo prompt, never from argv.

use crate::render::{self, Mode};
use crate::Globals;
use clap::{Args, Subcommand};
use std::io::{IsTerminal, Read};
use trainctl_core::config::profile::{self, ProfileOrigin};
use trainctl_core::config::{keychain, CredentialSource, Overrides, Profile};
use trainctl_core::s3::check::{test_connection, TestReport};
use trainctl_core::s3::client::endpoint_display;
use trainctl_core::{Error, Result};

#[derive(Debug, Subcommand)]
pub enum ProfileCmd {
    /// Add or replace a profile: trainctl profile add lab --endpoint-url http://host:9000 --access-key-id ID --secret-from-stdin
    Add(AddArgs),
    /// List trainctl profiles and the AWS profiles found in ~/.aws
    List,
    /// Show the settings a profile resolves to (never the secret)
    Show(NameArg),
    /// Remove a trainctl profile and its keychain secret
    Remove(RemoveArgs),
    /// Make one cheap call and say in plain words what works or what is wrong
    Test(TestArgs),
}

#[derive(Debug, Args)]
pub struct AddArgs {
    /// Profile name (letters, digits, '-', '_', '.')
    pub name: String,
    /// Provider id (aws, r2, minio, garage, b2, coreweave, wasabi, gcs-interop, moto, other); default: detected from the endpoint
    #[arg(long)]
    pub provider: Option<String>,
    /// Force path-style addressing (http://host/bucket/key)
    #[arg(long, conflicts_with = "virtual_hosted")]
    pub path_style: bool,
    /// Force virtual-hosted addressing (http://bucket.host/key)
    #[arg(long)]
    pub virtual_hosted: bool,
    /// Take credentials from this AWS profile (~/.aws/config, SSO included)
    #[arg(long, value_name = "NAME", conflicts_with = "access_key_id")]
    pub aws_profile: Option<String>,
    /// Access key id; the secret goes to the OS keychain
    #[arg(long, value_name = "ID")]
    pub access_key_id: Option<String>,
    /// Read the secret access key from stdin (first line) instead of prompting
    #[arg(long, requires = "access_key_id")]
    pub secret_from_stdin: bool,
}

#[derive(Debug, Args)]
pub struct NameArg {
    /// Profile name (default: --profile / TRAINCTL_PROFILE / the AWS chain)
    pub name: Option<String>,
}

#[derive(Debug, Args)]
pub struct RemoveArgs {
    pub name: String,
}

#[derive(Debug, Args)]
pub struct TestArgs {
    /// Profile name (default: --profile / TRAINCTL_PROFILE / the AWS chain)
    pub name: Option<String>,
    /// Check this bucket (HeadBucket) instead of listing buckets
    #[arg(long)]
    pub bucket: Option<String>,
}

/// Runs a `profile` subcommand; returns the exit code.
pub async fn run(cmd: ProfileCmd, g: &Globals) -> Result<i32> {
    let mode = Mode::from_globals(g);
    match cmd {
        ProfileCmd::Add(a) => add(a, g, mode),
        ProfileCmd::List => list(mode),
        ProfileCmd::Show(a) => show(a.name, g, mode),
        ProfileCmd::Remove(a) => remove(&a.name, mode),
        ProfileCmd::Test(a) => test(a, g, mode).await,
    }
}

fn add(a: AddArgs, g: &Globals, mode: Mode) -> Result<i32> {
    let credentials = match (&a.aws_profile, &a.access_key_id) {
        (Some(name), _) => CredentialSource::AwsProfile { name: name.clone() },
        (None, Some(id)) => CredentialSource::Keychain { access_key_id: id.clone() },
        (None, None) => CredentialSource::AwsChain,
    };
    let path_style = if a.path_style { Some(true) } else if a.virtual_hosted { Some(false) } else { None };
    let p = Profile {
        name: a.name.clone(),
        provider: a.provider.clone(),
        endpoint_url: g.endpoint_url.clone(),
        region: g.region.clone(),
        path_style,
        checksum_when_required: None,
        credentials,
        prices: None,
    };
    profile::validate(&p)?;
    let secret = match &p.credentials {
        CredentialSource::Keychain { .. } => Some(read_secret(a.secret_from_stdin)?),
        _ => None,
    };
    profile::save_profile(p, secret.as_deref())?;
    match mode {
        Mode::Json => render::print_json(&serde_json::json!({ "added": a.name })),
        Mode::Quiet => {}
        Mode::Human => println!("saved profile `{}`; check it with `trainctl profile test {}`", a.name, a.name),
    }
    Ok(0)
}

/// The secret from stdin's first line, or a no-echo prompt on the terminal.
fn read_secret(from_stdin: bool) -> Result<String> {
    let secret = if from_stdin || !std::io::stdin().is_terminal() {
        if !from_stdin {
            return Err(Error::Usage("no terminal to prompt for the secret: pass --secret-from-stdin and pipe it in".into()));
        }
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s).map_err(|e| Error::Usage(format!("cannot read the secret from stdin: {e}")))?;
        s.lines().next().unwrap_or("").trim().to_string()
    } else {
        rpassword::prompt_password("Secret access key (not shown): ").map_err(|e| Error::Usage(format!("cannot read the secret: {e}")))?.trim().to_string()
    };
    if secret.is_empty() {
        return Err(Error::Usage("the secret access key is empty".into()));
    }
    Ok(secret)
}

fn list(mode: Mode) -> Result<i32> {
    let profiles = profile::list_profiles()?;
    if mode == Mode::Json {
        profiles.iter().for_each(render::print_json);
        return Ok(0);
    }
    if profiles.is_empty() {
        println!("no profiles; add one with `trainctl profile add NAME --endpoint-url URL`");
    }
    for p in &profiles {
        let origin = match p.origin {
            ProfileOrigin::Trainctl => "trainctl".to_string(),
            ProfileOrigin::Aws => format!("aws ({})", p.aws_files.join("+")),
        };
        let endpoint = p.endpoint_url.as_deref().unwrap_or("-");
        println!("{:<20} {:<24} {:<12} {}", p.name, origin, p.provider.as_deref().unwrap_or("-"), endpoint);
    }
    Ok(0)
}

fn overrides_for(name: Option<String>, g: &Globals) -> Overrides {
    Overrides { profile: name.or_else(|| g.profile.clone()), endpoint_url: g.endpoint_url.clone(), region: g.region.clone() }
}

fn show(name: Option<String>, g: &Globals, mode: Mode) -> Result<i32> {
    let r = profile::resolve(&overrides_for(name, g))?;
    let secret = match &r.credentials {
        CredentialSource::Keychain { .. } => Some(match keychain::get_secret(&r.name) {
            Ok(Some(_)) => "stored in the OS keychain".to_string(),
            Ok(None) => "MISSING from the OS keychain".to_string(),
            Err(e) => format!("unknown ({e})"),
        }),
        _ => None,
    };
    if mode == Mode::Json {
        render::print_json(&serde_json::json!({ "profile": r, "endpoint": endpoint_display(&r), "secret": secret }));
        return Ok(0);
    }
    println!("name:         {}", r.name);
    println!("provider:     {}", r.provider);
    println!("endpoint:     {}", endpoint_display(&r));
    println!("region:       {}", r.region);
    println!("addressing:   {}", if r.path_style { "path-style" } else { "virtual-hosted" });
    println!("checksums:    {}", if r.checksum_when_required { "when required" } else { "when supported" });
    println!("credentials:  {}", describe_credentials(&r.credentials));
    if let Some(s) = secret {
        println!("secret:       {s}");
    }
    Ok(0)
}

fn describe_credentials(c: &CredentialSource) -> String {
    match c {
        CredentialSource::AwsChain => "AWS default chain (env, ~/.aws, SSO, instance role)".into(),
        CredentialSource::AwsProfile { name } => format!("AWS profile `{name}`"),
        CredentialSource::Keychain { access_key_id } => format!("access key {access_key_id} + secret in the OS keychain"),
    }
}

fn remove(name: &str, mode: Mode) -> Result<i32> {
    profile::remove_profile(name)?;
    match mode {
        Mode::Json => render::print_json(&serde_json::json!({ "removed": name })),
        Mode::Quiet => {}
        Mode::Human => println!("removed profile `{name}`"),
    }
    Ok(0)
}

async fn test(a: TestArgs, g: &Globals, mode: Mode) -> Result<i32> {
    let r = profile::resolve(&overrides_for(a.name, g))?;
    let report = test_connection(&r, a.bucket.as_deref()).await;
    match mode {
        Mode::Json => render::print_json(&report),
        _ => print_report(&report),
    }
    Ok(report.error.as_ref().map_or(0, |e| e.exit_code))
}

fn print_report(r: &TestReport) {
    println!("profile {} → {} ({}, {})", r.profile.name, r.endpoint, r.profile.provider, r.profile.region);
    println!("{}", r.diagnosis);
    if let Some(n) = r.buckets {
        println!("{n} bucket(s) visible ({} ms)", r.elapsed_ms);
    }
    if let Some(e) = &r.error {
        println!("  detail: {}\n  hint: {}", e.message, e.hint);
    }
}
