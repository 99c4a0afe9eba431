//! Where the queues that `ipcs`, `ipcrm`, `stat` and `peek` look at live: the emulation's
//! namespace directory, or a Redis server's namespace (`--backend redis`, `--redis URL`).
//!
//! Which one: the global `--backend` and `--redis` options (before the subcommand), else
//! `MQSHIM_BACKEND` and `MQSHIM_REDIS` as the library reads them — so `mqshim ipcs` in the
//! environment of `mqshim run --backend redis` users sees what their programs see. An option
//! wins over its variable; `--redis URL` alone selects the redis backend. Any backend but
//! redis means the emulation's namespace (`--dir`, `MQSHIM_DIR`), as before.

use mqshim_core::config::{BackendKind, Config};
use mqshim_core::remote::posix::RemotePosix;
use mqshim_core::remote::sysv::RemoteSysv;
use mqshim_core::remote::url::RedisUrl;
use mqshim_core::remote::Remote;

/// The queues a command looks at.
pub enum Queues {
    /// The emulation's namespace directory.
    Emulation(Vec<u8>),
    /// A Redis server's namespace.
    Redis(Box<RedisQueues>),
}

/// Both APIs' queues on one server and namespace.
pub struct RedisQueues {
    pub url: RedisUrl,
    pub posix: RemotePosix,
    pub sysv: RemoteSysv,
}

/// The global options that choose the backend (`None`: not given).
pub struct Choice<'a> {
    pub backend: Option<&'a str>,
    pub redis: Option<&'a str>,
    /// `--dir`, made absolute (the emulation's namespace).
    pub dir: Option<Vec<u8>>,
}

impl Queues {
    /// The queues `choice` and the environment select (see [`configured`]). A Redis server is
    /// connected to here: one that cannot be used is an error naming it (without its
    /// password), after at most the connect timeout (3 s).
    pub fn select(choice: &Choice) -> Result<Queues, String> {
        let config = configured(choice)?;
        if config.backend != BackendKind::Redis {
            return Ok(Queues::Emulation(choice.dir.clone().unwrap_or(config.dir)));
        }
        let url = config.redis;
        mqshim_core::remote::connection::check(&url).map_err(|why| format!("mqshim: cannot use the Redis server {}: {why}", url.shown()))?;
        let env = mqshim_core::policy::limits::Limits::from_env().0;
        let limits = env.for_emulation();
        let stated = mqshim_core::remote::sysctl::stated(&limits, &env.per_process_keys());
        let remote = Remote::new(url.clone());
        Ok(Queues::Redis(Box::new(RedisQueues {
            url,
            posix: RemotePosix::new(remote.clone(), limits.posix, stated.clone()),
            sysv: RemoteSysv::new(remote, limits.sysv, stated),
        })))
    }

    /// The namespace as output names it: the directory, or the server's URL (password hidden).
    pub fn shown(&self) -> String {
        match self {
            Queues::Emulation(dir) => String::from_utf8_lossy(dir).into_owned(),
            Queues::Redis(r) => r.url.shown(),
        }
    }

    /// What a listing's POSIX header says holds the queues ("emulated" or "redis").
    pub fn posix_holder(&self) -> &'static str {
        match self {
            Queues::Emulation(_) => "emulated",
            Queues::Redis(_) => "redis",
        }
    }

    /// What a listing's System V header says holds the queues.
    pub fn sysv_holder(&self) -> &'static str {
        match self {
            Queues::Emulation(_) => "emulated System V",
            Queues::Redis(_) => "System V on redis",
        }
    }

    /// The `backend` a JSON listing names.
    pub fn backend_name(&self) -> &'static str {
        match self {
            Queues::Emulation(_) => BackendKind::Emulate.name(),
            Queues::Redis(_) => BackendKind::Redis.name(),
        }
    }
}

/// The configuration the options of `choice` and the environment make: an option stands for its
/// variable (`--redis` alone for `MQSHIM_BACKEND=redis` too). A bad option value is an error (as
/// `mqshim run` refuses one); a bad variable is reported and its default used, as the library
/// does.
pub fn configured(choice: &Choice) -> Result<Config, String> {
    let from_option = |name: &str| match name {
        "MQSHIM_BACKEND" => choice.backend.or(choice.redis.map(|_| "redis")),
        "MQSHIM_REDIS" => choice.redis,
        _ => None,
    };
    let (config, problems) = Config::from_lookup(|name| match from_option(name) {
        Some(v) => Some(v.as_bytes().to_vec()),
        None => std::env::var_os(name).map(|v| std::os::unix::ffi::OsStrExt::as_bytes(v.as_os_str()).to_vec()),
    });
    let (ours, theirs): (Vec<_>, Vec<_>) = problems.into_iter().partition(|p| from_option(p.variable).is_some());
    if let Some(p) = ours.first() {
        let option = if p.variable == "MQSHIM_REDIS" { "--redis" } else { "--backend" };
        return Err(format!("mqshim: {option}: {}", p.message.split("; using").next().unwrap_or_default()));
    }
    mqshim_core::config::report(&theirs);
    Ok(config)
}
