//! What a request's proxies may tell us, believed only from a peer in
//! `throttle.trusted_proxies`: the client's address (`X-Forwarded-For`), and the scheme
//! and host the client asked for (`X-Forwarded-Proto`, `X-Forwarded-Host`) — which make
//! the base of the absolute links we answer with, unless `server.public_url` fixes it.

use std::net::IpAddr;

use actix_web::HttpRequest;
use actix_web::http::header::HOST;

pub(crate) struct Forwarded {
    trusted_proxies: Vec<IpAddr>,
    /// `server.public_url`, without its trailing slash.
    public_url: Option<String>,
}

impl Forwarded {
    pub(crate) fn new(trusted_proxies: &[IpAddr], public_url: Option<&str>) -> Self {
        Self {
            trusted_proxies: trusted_proxies.to_vec(),
            public_url: public_url.map(|url| url.trim_end_matches('/').to_owned()),
        }
    }

    /// Whether the socket's peer is one of our proxies, whose forwarding headers are
    /// believed. Everyone else's are ignored: any client can write them.
    fn peer_is_trusted_proxy(&self, req: &HttpRequest) -> bool {
        req.peer_addr()
            .is_some_and(|peer| self.trusted_proxies.contains(&peer.ip()))
    }

    /// The client's address: the socket's peer, or — only when the peer is a trusted
    /// proxy — the nearest address in `X-Forwarded-For` that is not one.
    pub(crate) fn client_ip(&self, req: &HttpRequest) -> Option<IpAddr> {
        let peer = req.peer_addr()?.ip();
        if !self.peer_is_trusted_proxy(req) {
            return Some(peer);
        }
        let hops: Vec<&str> = req
            .headers()
            .get_all("x-forwarded-for")
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .map(str::trim)
            .collect();
        // Walk back from the nearest hop: each trusted proxy vouches for the address
        // before it, and the first one that no proxy of ours added is the client's.
        // An unreadable hop ends the walk at the last address vouched for.
        let mut client = peer;
        for hop in hops.iter().rev() {
            let Ok(ip) = hop.parse::<IpAddr>() else { break };
            client = ip;
            if !self.trusted_proxies.contains(&ip) {
                break;
            }
        }
        Some(client)
    }

    /// `scheme://host[/prefix]` for absolute links: `server.public_url` when set;
    /// otherwise the request's scheme and `Host`, or what a trusted proxy forwarded.
    pub(crate) fn base_url(&self, req: &HttpRequest) -> String {
        if let Some(public_url) = &self.public_url {
            return public_url.clone();
        }
        let trusted = self.peer_is_trusted_proxy(req);
        let forwarded = |name: &str| {
            trusted
                .then(|| req.headers().get(name)?.to_str().ok())
                .flatten()
                .and_then(|value| value.split(',').next())
                .map(str::trim)
                .filter(|value| !value.is_empty())
        };
        let scheme = match forwarded("x-forwarded-proto") {
            Some(proto) if proto.eq_ignore_ascii_case("https") => "https",
            Some(proto) if proto.eq_ignore_ascii_case("http") => "http",
            _ if req.app_config().secure() => "https",
            _ => "http",
        };
        let host = forwarded("x-forwarded-host")
            .or_else(|| req.headers().get(HOST)?.to_str().ok())
            .or_else(|| req.uri().authority().map(|authority| authority.as_str()))
            .unwrap_or_else(|| req.app_config().host());
        format!("{scheme}://{host}")
    }
}
