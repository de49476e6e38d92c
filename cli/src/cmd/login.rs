//! `faas login`: checks a password against the gateway and saves it, with the
//! gateway's address, in the user's config directory (mode 0600), so later
//! commands need neither `--gateway` nor `FAAS_PASSWORD`.

use std::io::{BufRead, IsTerminal, Write};

use crate::client::Gateway;
use crate::cmd::write;
use crate::config::{Auth, Config, Stored};
use crate::error::Error;
use crate::escape::line;

#[derive(Debug, Clone, Default)]
pub struct Options {
    pub username: String,
    pub password: Option<String>,
    pub password_stdin: bool,
}

pub fn run(config: &Config, o: Options, out: &mut dyn Write) -> Result<(), Error> {
    let path = config.file.clone().ok_or_else(|| {
        Error::Usage("neither XDG_CONFIG_HOME nor HOME is set: nowhere to save the login".into())
    })?;
    let password = read_password(&o)?;
    if password.is_empty() {
        return Err(Error::Usage("the password is empty".into()));
    }
    let config = Config {
        username: o.username.clone(),
        password: Some(password.clone()),
        ..config.clone()
    };
    // A management route: answers 401 unless the password is right.
    Gateway::new(&config)?.functions()?;

    let mut stored = Stored::load(&path)?;
    stored.gateway = Some(config.gateway.clone());
    stored.auths.insert(
        config.gateway.clone(),
        Auth {
            username: o.username,
            password,
        },
    );
    stored.save(&path)?;
    write(
        out,
        &format!(
            "Login Succeeded: {} (saved in {})\n",
            line(&config.gateway),
            line(&path.display().to_string())
        ),
    )
}

/// The flag, else a prompt on a terminal, else the first line of STDIN.
fn read_password(o: &Options) -> Result<String, Error> {
    if let Some(p) = &o.password {
        return Ok(p.clone());
    }
    let stdin = std::io::stdin();
    if !o.password_stdin && stdin.is_terminal() {
        return rpassword::prompt_password("Password: ").map_err(Error::io("reading the password"));
    }
    let mut line = String::new();
    stdin
        .lock()
        .read_line(&mut line)
        .map_err(Error::io("reading the password from STDIN"))?;
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}
