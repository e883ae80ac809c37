//! What authentication reads (a user's profile, whether one of his sessions is live),
//! kept in memory so that a token check needs no round trip, and forgotten the moment
//! it may have changed:
//!
//! - a change through this process: every statement that writes, once it has run
//!   (`db::local_writes`), makes every entry read before it stale;
//! - a change through any other process: the triggers of migration 11 announce it on
//!   channel `gatehouse_auth` at commit; the listener ([`spawn_listener`]) forgets that
//!   user (or everyone) when the message arrives, within milliseconds;
//! - while the listener is not connected and listening, nothing is kept or served: a
//!   lost connection empties the cache, and it fills again only once a new one listens.
//!
//! A read that began before a message arrived or the listener reconnected is not kept:
//! it may predate the change the message announced.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use domain::UserProfile;
use domain::ports::AuthState;
use futures_util::StreamExt;
use secrecy::{ExposeSecret, SecretString};
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::db::local_writes;

/// The channel the triggers announce changes on.
pub const CHANNEL: &str = "gatehouse_auth";
/// How the listener's connection names itself in `pg_stat_activity`.
pub const LISTENER_APPLICATION_NAME: &str = "gatehouse-auth-listener";
/// How often the listener proves its connection alive, and how long it waits for that.
const HEARTBEAT: Duration = Duration::from_secs(5);
const HEARTBEAT_TIMEOUT: Duration = Duration::from_secs(2);
/// The pause before connecting again after the listener's connection was lost.
const RECONNECT_DELAY: Duration = Duration::from_secs(1);

/// `database.auth_cache_size`: how many users' answers are kept; 0 turns the cache off.
#[derive(Debug, Clone, Copy, serde::Deserialize)]
pub struct AuthCacheSettings {
    pub auth_cache_size: usize,
}

/// The in-memory answers of authentication, shared by the repositories of one process.
#[derive(Clone)]
pub struct AuthCache {
    inner: Arc<Inner>,
}

struct Inner {
    /// The most users kept; the cache empties when it would grow past this.
    capacity: usize,
    entries: Mutex<HashMap<i64, Entry>>,
    /// Whether the listener is connected and listening: nothing is kept or served
    /// otherwise.
    listening: AtomicBool,
    /// Bumped by every message and every change of `listening`.
    messages: AtomicU64,
}

struct Entry {
    /// `local_writes()` when the entry was read.
    written: u64,
    profile: UserProfile,
    /// Whether each session asked about is live.
    sessions: HashMap<Uuid, bool>,
}

/// When a read of the store began, to tell whether its answer may be kept.
#[derive(Debug, Clone, Copy)]
pub struct ReadStamp {
    written: u64,
    messages: u64,
}

impl AuthCache {
    /// An empty cache for at most `capacity` users, serving nothing until a listener
    /// reports that it listens.
    pub fn new(capacity: usize) -> Self {
        Self {
            inner: Arc::new(Inner {
                capacity: capacity.max(1),
                entries: Mutex::new(HashMap::new()),
                listening: AtomicBool::new(false),
                messages: AtomicU64::new(0),
            }),
        }
    }

    fn entries(&self) -> MutexGuard<'_, HashMap<i64, Entry>> {
        // A panic while holding the lock cannot leave an entry half written.
        self.inner
            .entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The kept answer for user `user` and session `sid`, if one is kept and nothing
    /// was written since it was read.
    pub fn get(&self, user: i64, sid: Uuid) -> Option<AuthState> {
        if !self.inner.listening.load(Ordering::Acquire) {
            return None;
        }
        let written = local_writes();
        let mut entries = self.entries();
        let entry = entries.get(&user)?;
        if entry.written != written {
            entries.remove(&user);
            return None;
        }
        let session_live = *entry.sessions.get(&sid)?;
        Some(AuthState {
            profile: entry.profile.clone(),
            session_live,
        })
    }

    /// To take before reading the store; `None` when nothing may be kept now.
    pub fn stamp(&self) -> Option<ReadStamp> {
        if !self.inner.listening.load(Ordering::Acquire) {
            return None;
        }
        Some(ReadStamp {
            messages: self.inner.messages.load(Ordering::Acquire),
            written: local_writes(),
        })
    }

    /// Keeps `state`, read from the store after `stamp`, unless anything was written
    /// or announced since.
    pub fn put(&self, stamp: ReadStamp, user: i64, sid: Uuid, state: &AuthState) {
        let mut entries = self.entries();
        // Checked under the lock that `forget` takes: a message counted after this
        // check finds the entry there and removes it.
        let unchanged = self.inner.listening.load(Ordering::Acquire)
            && self.inner.messages.load(Ordering::Acquire) == stamp.messages
            && local_writes() == stamp.written;
        if !unchanged {
            return;
        }
        if entries.len() >= self.inner.capacity && !entries.contains_key(&user) {
            entries.clear();
        }
        let entry = entries.entry(user).or_insert_with(|| Entry {
            written: stamp.written,
            profile: state.profile.clone(),
            sessions: HashMap::new(),
        });
        if entry.written != stamp.written || entry.profile != state.profile {
            *entry = Entry {
                written: stamp.written,
                profile: state.profile.clone(),
                sessions: HashMap::new(),
            };
        }
        entry.sessions.insert(sid, state.session_live);
    }

    /// A message of channel `gatehouse_auth`: a user's id, or `*` for everyone.
    pub fn announced(&self, payload: &str) {
        let mut entries = self.entries();
        self.inner.messages.fetch_add(1, Ordering::AcqRel);
        match payload.trim().parse::<i64>() {
            Ok(user) => {
                entries.remove(&user);
            }
            Err(_) => entries.clear(),
        }
    }

    /// The listener listens (`true`) or lost its connection (`false`); either way
    /// everything kept so far is forgotten.
    pub fn set_listening(&self, listening: bool) {
        let mut entries = self.entries();
        if !listening {
            self.inner.listening.store(false, Ordering::Release);
        }
        self.inner.messages.fetch_add(1, Ordering::AcqRel);
        entries.clear();
        if listening {
            self.inner.listening.store(true, Ordering::Release);
        }
    }

    /// Whether answers are kept and served now.
    pub fn is_listening(&self) -> bool {
        self.inner.listening.load(Ordering::Acquire)
    }

    /// How many users are kept.
    pub fn len(&self) -> usize {
        self.entries().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Listens on `gatehouse_auth` over a connection of its own, for as long as the
/// process runs: forgets what each message names, and reconnects (emptying the cache
/// meanwhile) when the connection fails or stops answering.
pub fn spawn_listener(cache: AuthCache, url: SecretString) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut failures_in_a_row = 0u32;
        loop {
            let error = listen(&cache, &url).await;
            let was_listening = cache.is_listening();
            cache.set_listening(false);
            if was_listening {
                failures_in_a_row = 0;
                tracing::warn!(error = %format!("{error:#}"), "the auth cache's listener lost the database; token checks read the database until it is back");
            } else if failures_in_a_row == 0 {
                tracing::warn!(error = %format!("{error:#}"), "the auth cache's listener cannot reach the database; token checks read the database until it can");
            }
            failures_in_a_row += 1;
            tokio::time::sleep(RECONNECT_DELAY).await;
        }
    })
}

/// One connection's life: connect, `LISTEN`, serve messages until it fails.
async fn listen(cache: &AuthCache, url: &SecretString) -> anyhow::Error {
    use anyhow::Context as _;

    let connected = async {
        let mut config: tokio_postgres::Config = url
            .expose_secret()
            .parse()
            .context("while reading database.url")?;
        config
            .application_name(LISTENER_APPLICATION_NAME)
            .connect_timeout(HEARTBEAT_TIMEOUT)
            .keepalives_idle(HEARTBEAT);
        config
            .connect(tokio_postgres::NoTls)
            .await
            .context("while connecting the auth cache's listener")
    };
    let (client, mut connection) = match connected.await {
        Ok(pair) => pair,
        Err(error) => return error,
    };
    let receiver = cache.clone();
    let mut driver = tokio::spawn(async move {
        let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(message) = messages.next().await {
            match message {
                Ok(tokio_postgres::AsyncMessage::Notification(note)) => {
                    receiver.announced(note.payload());
                }
                Ok(_) => {}
                Err(error) => return anyhow::Error::new(error),
            }
        }
        anyhow::anyhow!("the listener's connection closed")
    });
    let listening = tokio::time::timeout(
        HEARTBEAT_TIMEOUT,
        client.batch_execute(&format!("LISTEN {CHANNEL}")),
    )
    .await;
    match listening {
        Ok(Ok(())) => cache.set_listening(true),
        Ok(Err(error)) => {
            driver.abort();
            return anyhow::Error::new(error).context("while listening");
        }
        Err(_) => {
            driver.abort();
            return anyhow::anyhow!("LISTEN got no answer within {HEARTBEAT_TIMEOUT:?}");
        }
    }
    let mut heartbeat = tokio::time::interval(HEARTBEAT);
    heartbeat.tick().await;
    loop {
        tokio::select! {
            ended = &mut driver => {
                return ended.unwrap_or_else(anyhow::Error::new);
            }
            _ = heartbeat.tick() => {
                let answered =
                    tokio::time::timeout(HEARTBEAT_TIMEOUT, client.simple_query("SELECT 1")).await;
                if !matches!(answered, Ok(Ok(_))) {
                    driver.abort();
                    return anyhow::anyhow!("the listener's connection stopped answering");
                }
            }
        }
    }
}
