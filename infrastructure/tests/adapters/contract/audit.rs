//! `AuditLog`: events read back as recorded, newest first (the later write first
//! within one instant), through every filter, a page at a time, with client details
//! cut to their columns' widths.

use domain::ports::AuditLog;
use domain::{AuditEvent, AuditKind, AuditQuery, UserId};

use super::{Harness, at};

contract!(
    an_event_reads_back_as_recorded,
    events_are_listed_newest_first_and_the_later_write_first_within_an_instant,
    each_filter_selects_its_events,
    a_page_is_sliced_by_offset_and_limit_and_counts_every_match,
    client_details_are_cut_to_45_and_512_characters,
);

async fn record<H: Harness>(h: &H, events: &[AuditEvent]) {
    for event in events {
        h.audit().record(event.clone()).await.unwrap();
    }
}

/// The `n` detail of each listed event, in the order listed, and the count.
async fn listed<H: Harness>(h: &H, query: AuditQuery) -> (Vec<i64>, i64) {
    let page = h
        .audit()
        .list(&AuditQuery {
            limit: if query.limit == 0 { 100 } else { query.limit },
            ..query
        })
        .await
        .unwrap();
    let ns = page
        .items
        .iter()
        .map(|r| r.event.details["n"].as_i64().expect("an n"))
        .collect();
    (ns, page.count)
}

fn numbered(n: i64, kind: AuditKind, seconds: i64) -> AuditEvent {
    AuditEvent::new(kind, at(seconds)).detail("n", n)
}

async fn an_event_reads_back_as_recorded<H: Harness>() {
    let h = H::start().await;
    let event = AuditEvent::new(AuditKind::LoginFailed, at(3))
        .actor(UserId(7))
        .subject(UserId(8))
        .from(
            Some("2001:db8::1".to_owned()),
            Some("curl/8 «é»".to_owned()),
        )
        .detail("username", "ghost")
        .detail("nested", serde_json::json!({ "a": [1, 2], "b": null }))
        .detail("flag", true);

    h.audit().record(event.clone()).await.unwrap();

    let page = h
        .audit()
        .list(&AuditQuery {
            limit: 10,
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(page.count, 1);
    assert_eq!(page.items[0].event, event);
}

async fn events_are_listed_newest_first_and_the_later_write_first_within_an_instant<H: Harness>() {
    let h = H::start().await;
    record(
        &h,
        &[
            numbered(1, AuditKind::LoginFailed, 10),
            numbered(2, AuditKind::LoginFailed, 30),
            numbered(3, AuditKind::LoginFailed, 20),
            numbered(4, AuditKind::LoginFailed, 20),
            numbered(5, AuditKind::LoginFailed, 0),
        ],
    )
    .await;

    let all = h
        .audit()
        .list(&AuditQuery {
            limit: 10,
            ..AuditQuery::default()
        })
        .await
        .unwrap();

    let ns: Vec<i64> = all
        .items
        .iter()
        .map(|r| r.event.details["n"].as_i64().unwrap())
        .collect();
    assert_eq!(ns, [2, 4, 3, 1, 5]);
    assert!(
        all.items[1].id > all.items[2].id,
        "ids grow with each write"
    );
}

async fn each_filter_selects_its_events<H: Harness>() {
    let h = H::start().await;
    let (alice, bob) = (UserId(1), UserId(2));
    record(
        &h,
        &[
            numbered(1, AuditKind::LoginFailed, 0),
            numbered(2, AuditKind::LoginSucceeded, 10).by_self(alice),
            numbered(3, AuditKind::UserUpdated, 20)
                .actor(alice)
                .subject(bob),
            numbered(4, AuditKind::UserUpdated, 30)
                .actor(bob)
                .subject(alice),
            numbered(5, AuditKind::Logout, 40).by_self(bob),
            numbered(6, AuditKind::LoginFailed, 50).subject(bob),
        ],
    )
    .await;
    let select = |query: AuditQuery| listed(&h, query);

    let of_alice = select(AuditQuery {
        user: Some(alice),
        ..Default::default()
    })
    .await;
    let by_alice = select(AuditQuery {
        actor: Some(alice),
        ..Default::default()
    })
    .await;
    let on_bob = select(AuditQuery {
        subject: Some(bob),
        ..Default::default()
    })
    .await;
    let by_bob_on_alice = select(AuditQuery {
        actor: Some(bob),
        subject: Some(alice),
        ..Default::default()
    })
    .await;
    let logins = select(AuditQuery {
        kinds: vec![AuditKind::LoginFailed, AuditKind::LoginSucceeded],
        ..Default::default()
    })
    .await;
    let window = select(AuditQuery {
        since: Some(at(10)),
        until: Some(at(30)),
        ..Default::default()
    })
    .await;
    let failed_for_bob = select(AuditQuery {
        user: Some(bob),
        kinds: vec![AuditKind::LoginFailed],
        since: Some(at(50)),
        ..Default::default()
    })
    .await;
    let nothing = select(AuditQuery {
        user: Some(UserId(3)),
        ..Default::default()
    })
    .await;

    assert_eq!(of_alice, (vec![4, 3, 2], 3));
    assert_eq!(by_alice, (vec![3, 2], 2));
    assert_eq!(on_bob, (vec![6, 5, 3], 3));
    assert_eq!(by_bob_on_alice, (vec![4], 1));
    assert_eq!(logins, (vec![6, 2, 1], 3));
    assert_eq!(window, (vec![4, 3, 2], 3), "both ends inclusive");
    assert_eq!(failed_for_bob, (vec![6], 1));
    assert_eq!(nothing, (vec![], 0));
}

async fn a_page_is_sliced_by_offset_and_limit_and_counts_every_match<H: Harness>() {
    let h = H::start().await;
    let events: Vec<AuditEvent> = (1..=7)
        .map(|n| {
            numbered(
                n,
                if n % 2 == 0 {
                    AuditKind::Logout
                } else {
                    AuditKind::LoginFailed
                },
                n,
            )
        })
        .collect();
    record(&h, &events).await;

    let first = listed(
        &h,
        AuditQuery {
            offset: 0,
            limit: 3,
            ..Default::default()
        },
    )
    .await;
    let last = listed(
        &h,
        AuditQuery {
            offset: 6,
            limit: 3,
            ..Default::default()
        },
    )
    .await;
    let beyond = listed(
        &h,
        AuditQuery {
            offset: 9,
            limit: 3,
            ..Default::default()
        },
    )
    .await;
    let logouts = listed(
        &h,
        AuditQuery {
            kinds: vec![AuditKind::Logout],
            offset: 1,
            limit: 1,
            ..Default::default()
        },
    )
    .await;

    assert_eq!(first, (vec![7, 6, 5], 7));
    assert_eq!(last, (vec![1], 7));
    assert_eq!(beyond, (vec![], 7));
    assert_eq!(logouts, (vec![4], 3));
}

async fn client_details_are_cut_to_45_and_512_characters<H: Harness>() {
    let h = H::start().await;
    let long = AuditEvent::new(AuditKind::LoginFailed, at(0))
        .from(Some("é".repeat(100)), Some("ü".repeat(2000)));
    let fitting = AuditEvent::new(AuditKind::LoginFailed, at(1))
        .from(Some("9".repeat(45)), Some("x".repeat(512)));

    record(&h, &[long, fitting.clone()]).await;

    let page = h
        .audit()
        .list(&AuditQuery {
            limit: 10,
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    let (stored_fitting, stored_long) = (&page.items[0].event, &page.items[1].event);
    assert_eq!(stored_long.ip, Some("é".repeat(45)));
    assert_eq!(stored_long.user_agent, Some("ü".repeat(512)));
    assert_eq!(stored_fitting, &fitting);
}
