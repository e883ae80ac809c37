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
//!   Every second the listener sends itself a message on the channel and must receive
//!   it within a second; an answer older than [`STALE_AFTER`] that proof serves nothing,
//!   so a connection that died silently (or a pooler that drops messages) stops the
//!   cache within about two seconds.
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
use crate::pg_connect::PgConnectOptions;

/// The channel the triggers announce changes on.
pub const CHANNEL: &str = "gatehouse_auth";
/// How the listener's connection names itself in `pg_stat_activity`.
pub const LISTENER_APPLICATION_NAME: &str = "gatehouse-auth-listener";
/// How often the listener proves that messages reach it, and how long it waits for its
/// own message to come back.
const HEARTBEAT: Duration = Duration::from_secs(1);
const HEARTBEAT_TIMEOUT: Duration = Duration::from_secs(1);
/// How long after the last proof the cache still serves.
pub const STALE_AFTER: Duration = Duration::from_millis(2500);
/// The prefix of the listeners' own messages, which announce no change.
const HEARTBEAT_PREFIX: &str = "hb:";
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
    /// When the listener last proved that messages reach it, in milliseconds since
    /// `started`.
    proven: AtomicU64,
    started: std::time::Instant,
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
                proven: AtomicU64::new(0),
                started: std::time::Instant::now(),
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

    fn now_ms(&self) -> u64 {
        u64::try_from(self.inner.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Whether answers may be kept and served now: the listener listens, and proved it
    /// less than [`STALE_AFTER`] ago.
    fn serving(&self) -> bool {
        self.inner.listening.load(Ordering::Acquire)
            && self
                .now_ms()
                .saturating_sub(self.inner.proven.load(Ordering::Acquire))
                < STALE_AFTER.as_millis() as u64
    }

    /// The listener received its own message: messages reach it.
    fn proven(&self) {
        self.inner.proven.store(self.now_ms(), Ordering::Release);
    }

    /// The kept answer for user `user` and session `sid`, if one is kept and nothing
    /// was written since it was read.
    pub fn get(&self, user: i64, sid: Uuid) -> Option<AuthState> {
        if !self.serving() {
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
        if !self.serving() {
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
        let unchanged = self.serving()
            && self.inner.messages.load(Ordering::Acquire) == stamp.messages
            && local_writes() == stamp.written;
        if !unchanged {
            return;
        }
        if entries.len() >= self.inner.capacity && !entries.contains_key(&user) {
            entries.clear();
        }
        let fresh = || Entry {
            written: stamp.written,
            profile: state.profile.clone(),
            sessions: HashMap::new(),
        };
        let entry = entries.entry(user).or_insert_with(fresh);
        if entry.written != stamp.written || entry.profile != state.profile {
            *entry = fresh();
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
            self.proven();
            self.inner.listening.store(true, Ordering::Release);
        }
    }

    /// Whether the listener is connected and listening.
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
        // Whether this run of failures was logged already.
        let mut warned = false;
        loop {
            let error = listen(&cache, &url).await;
            let was_listening = cache.is_listening();
            cache.set_listening(false);
            if was_listening {
                tracing::warn!(error = %format!("{error:#}"), "the auth cache's listener lost the database; token checks read the database until it is back");
            } else if !warned {
                tracing::warn!(error = %format!("{error:#}"), "the auth cache's listener cannot reach the database; token checks read the database until it can");
            }
            warned = true;
            tokio::time::sleep(RECONNECT_DELAY).await;
        }
    })
}

/// One connection's life: connect, `LISTEN`, serve messages until it fails.
async fn listen(cache: &AuthCache, url: &SecretString) -> anyhow::Error {
    use anyhow::Context as _;

    let connected = async {
        let mut options =
            PgConnectOptions::parse(url.expose_secret()).context("while reading database.url")?;
        options
            .config_mut()
            .application_name(LISTENER_APPLICATION_NAME)
            .connect_timeout(HEARTBEAT_TIMEOUT)
            .keepalives_idle(HEARTBEAT);
        options
            .connect()
            .await
            .context("while connecting the auth cache's listener")
    };
    let (client, mut connection) = match connected.await {
        Ok(pair) => pair,
        Err(error) => return error,
    };
    let receiver = cache.clone();
    // This listener's own heartbeats: `hb:<listener>:<n>`; other listeners' are ignored.
    let own = format!("{HEARTBEAT_PREFIX}{}:", Uuid::new_v4().simple());
    let (heard, mut last_heard) = tokio::sync::watch::channel(0u64);
    let own_prefix = own.clone();
    let mut driver = tokio::spawn(async move {
        let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(message) = messages.next().await {
            match message {
                Ok(tokio_postgres::AsyncMessage::Notification(note)) => {
                    let payload = note.payload();
                    if let Some(n) = payload.strip_prefix(&own_prefix) {
                        let _ = heard.send(n.parse().unwrap_or(0));
                    } else if !payload.starts_with(HEARTBEAT_PREFIX) {
                        receiver.announced(payload);
                    }
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
    let mut sent = 0u64;
    loop {
        tokio::select! {
            ended = &mut driver => {
                return ended.unwrap_or_else(anyhow::Error::new);
            }
            _ = heartbeat.tick() => {
                sent += 1;
                let notify = format!("NOTIFY {CHANNEL}, '{own}{sent}'");
                let proof = async {
                    client.batch_execute(&notify).await.ok()?;
                    last_heard.wait_for(|n| *n >= sent).await.ok().map(|_| ())
                };
                match tokio::time::timeout(HEARTBEAT_TIMEOUT, proof).await {
                    Ok(Some(())) => cache.proven(),
                    _ => {
                        driver.abort();
                        return anyhow::anyhow!(
                            "the listener's own message did not come back within {HEARTBEAT_TIMEOUT:?}"
                        );
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::{EmailAddress, User, UserId, Username};

    fn state(id: i64, live: bool) -> AuthState {
        let now = chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        AuthState {
            profile: UserProfile {
                user: User {
                    id: UserId(id),
                    username: Username::parse(&format!("u{id}")).unwrap(),
                    email: EmailAddress::parse(&format!("u{id}@example.com")).unwrap(),
                    password_hash: "!".to_owned(),
                    first_name: String::new(),
                    last_name: String::new(),
                    is_active: true,
                    is_staff: false,
                    is_superuser: false,
                    date_joined: now,
                    last_login: None,
                    password_changed_at: now,
                    pending_activation: false,
                },
                groups: vec!["editors".to_owned()],
                permissions: vec![],
            },
            session_live: live,
        }
    }

    fn listening() -> AuthCache {
        let cache = AuthCache::new(10);
        cache.set_listening(true);
        cache
    }

    #[test]
    fn nothing_is_kept_or_served_unless_the_listener_listens() {
        let cache = AuthCache::new(10);
        assert!(cache.stamp().is_none());
        let sid = Uuid::new_v4();
        cache.set_listening(true);
        let stamp = cache.stamp().unwrap();
        cache.set_listening(false);
        cache.put(stamp, 1, sid, &state(1, true));
        assert!(cache.is_empty());
        assert!(cache.get(1, sid).is_none());
    }

    #[test]
    fn an_answer_is_served_until_its_user_is_announced() {
        let cache = listening();
        let (one, two) = (Uuid::new_v4(), Uuid::new_v4());
        cache.put(cache.stamp().unwrap(), 1, one, &state(1, true));
        cache.put(cache.stamp().unwrap(), 1, two, &state(1, false));
        cache.put(cache.stamp().unwrap(), 2, one, &state(2, true));
        let served = cache.get(1, one).expect("kept");
        assert!(served.session_live);
        assert_eq!(served.profile.groups, ["editors"]);
        assert_eq!(cache.get(1, two).map(|s| s.session_live), Some(false));
        assert!(
            cache.get(1, Uuid::new_v4()).is_none(),
            "a session never read"
        );

        cache.announced("1");
        assert!(cache.get(1, one).is_none());
        assert!(cache.get(2, one).is_some(), "another user's answer stays");
        cache.announced("*");
        assert!(cache.get(2, one).is_none());
    }

    #[test]
    fn a_read_that_raced_a_message_or_a_reconnection_is_not_kept() {
        let cache = listening();
        let sid = Uuid::new_v4();
        let stamp = cache.stamp().unwrap();
        cache.announced("7");
        cache.put(stamp, 1, sid, &state(1, true));
        assert!(cache.get(1, sid).is_none(), "read before a message");

        let stamp = cache.stamp().unwrap();
        cache.set_listening(false);
        cache.set_listening(true);
        cache.put(stamp, 1, sid, &state(1, true));
        assert!(cache.get(1, sid).is_none(), "read before a reconnection");
    }

    #[test]
    fn a_local_write_makes_what_was_read_before_it_stale() {
        let cache = listening();
        let sid = Uuid::new_v4();
        cache.put(cache.stamp().unwrap(), 1, sid, &state(1, true));
        assert!(cache.get(1, sid).is_some());
        crate::db::note_write();
        assert!(cache.get(1, sid).is_none());
        // And a read that straddled it is not kept.
        let stamp = cache.stamp().unwrap();
        crate::db::note_write();
        cache.put(stamp, 1, sid, &state(1, true));
        assert!(cache.get(1, sid).is_none());
    }

    #[test]
    fn a_full_cache_starts_over() {
        let cache = AuthCache::new(2);
        cache.set_listening(true);
        let sid = Uuid::new_v4();
        for user in 1..=3 {
            cache.put(cache.stamp().unwrap(), user, sid, &state(user, true));
        }
        assert_eq!(cache.len(), 1);
        assert!(cache.get(3, sid).is_some());
    }

    #[test]
    fn without_a_recent_proof_that_messages_arrive_nothing_is_served() {
        let cache = listening();
        let sid = Uuid::new_v4();
        cache.put(cache.stamp().unwrap(), 1, sid, &state(1, true));
        assert!(cache.get(1, sid).is_some());
        std::thread::sleep(STALE_AFTER + Duration::from_millis(100));
        assert!(cache.get(1, sid).is_none());
        assert!(cache.stamp().is_none());
        cache.proven();
        assert!(cache.stamp().is_some());
    }
}
