"""Fills the PostgreSQL database `gatehouse_django_fixture` with a Django auth database
written by real Django, and writes what the importer's tests need to know about it
(plaintext passwords, DRF keys, SimpleJWT tokens and their states) to
infrastructure/tests/fixtures/django_auth_db.json.

The stack is the reference peer's, ../shared/bench/peer-django (Django 5.2, DRF,
SimpleJWT with its token_blacklist app, Djoser): its settings, plus DRF's authtoken app,
Gatehouse's test signing key (config/test.toml) as SECRET_KEY (SimpleJWT signs with it),
token lifetimes of a hundred years (so the committed tokens stay valid), and password
hashers with lowered work factors. Normally run by auth_database.sh, which makes the
venv and dumps the database to django_auth_db.sql beside the JSON:

    bash scripts/django/auth_database.sh

By hand (PG* variables as the peer's, default 127.0.0.1:5432, user postgres):

    python3 -m venv .venv-django
    .venv-django/bin/pip install -r ../shared/bench/peer-django/requirements.txt argon2-cffi==23.1.0
    .venv-django/bin/python scripts/django/auth_database.py     # PEER_DJANGO=… to move the peer

It DROPS and recreates `gatehouse_django_fixture`, runs `migrate`, then makes, through
Django's ORM and DRF's and SimpleJWT's own APIs:
- the content type `library.book`, its four default permissions and `publish_book`;
- groups `editors` and `readers` with grants;
- one user per password format Django has written: make_password for the hashers
  Django 5.2 ships (work factors lowered by the subclasses below, algorithm names and
  encodings Django's own), the code of Django 4.2's hashers (copied from
  password_hashes.py) for sha1, unsalted_sha1, unsalted_md5 and crypt, and argon2i as
  Django < 3.2 wrote it; then `admin`, `staff`, `inactive`, `unusable`;
- memberships and direct grants; a gap in the user ids (a deleted user) and a high last
  id (an explicit id, then Django's own sequence reset, as `loaddata` does);
- the email conflicts Django allows: addresses equal up to case, two empty ones, an
  invalid one;
- DRF keys; SimpleJWT refresh tokens outstanding, blacklisted and expired, access
  tokens live and expired. The expired ones are issued by `for_user` itself with
  SimpleJWT's clock set back, so their outstanding-token rows are the ones SimpleJWT
  would have written then.

Salts, keys and jtis are random: a re-run gives the same structure (ids, names,
states), not the same bytes.
"""

import datetime
import json
import os
import pathlib
import sys
from unittest import mock

ROOT = pathlib.Path(__file__).resolve().parents[2]
PEER = pathlib.Path(os.environ.get("PEER_DJANGO", ROOT / "../shared/bench/peer-django")).resolve()
sys.path.insert(0, str(PEER))

import django  # noqa: E402
from django.conf import settings  # noqa: E402
from django.contrib.auth import hashers  # noqa: E402  (importable before configure)

import peer.settings as peer  # noqa: E402

DATABASE = "gatehouse_django_fixture"
SECRET_KEY = "gatehouse-test-signing-key-0123456789abcdef"
CENTURY = datetime.timedelta(days=36500)
UTC = datetime.timezone.utc
OUT = ROOT / "infrastructure/tests/fixtures/django_auth_db.json"


# The fast hashers and the legacy encoders are password_hashes.py's (importing it
# configures nothing).
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from password_hashes import argon2i, crypt_hash, sha1, unsalted_md5, unsalted_sha1  # noqa: E402


# format name -> (Django hasher algorithm or legacy encoder, plaintext, first, last name)
FORMATS = {
    "pbkdf2_sha256": ("pbkdf2_sha256", "pbkdf2 sha256 user pass", "Ada", "Lovelace"),
    "pbkdf2_sha1": ("pbkdf2_sha1", "pbkdf2 sha1 user pass", "Alan", "Turing"),
    "argon2": ("argon2", "argon2id pässwörd ünïcode", "Zoë", "Ångström"),
    "argon2i": (lambda p: argon2i(p, "somesaltsomesalt"), "argon2i user from 2019", "Grace", "Hopper"),
    "bcrypt_sha256": ("bcrypt_sha256", "bcrypt sha256 user " + "long " * 16, "Edsger", "Dijkstra"),
    "bcrypt": ("bcrypt", "plain bcrypt user pass", "Barbara", "Liskov"),
    "scrypt": ("scrypt", "scrypt user passphrase", "Donald", "Knuth"),
    "md5": ("md5", "salted md5 user pass", "Margaret", "Hamilton"),
    "sha1": (lambda p: sha1(p, "Pq3kHz9wL2mN"), "salted sha1 user pass", "Ken", "Thompson"),
    "unsalted_sha1": (unsalted_sha1, "unsalted sha1 user pass", "Dennis", "Ritchie"),
    "unsalted_md5": (unsalted_md5, "unsalted md5 user pass", "Frances", "Allen"),
    # DES crypt reads 8 characters: exactly 8, so the plaintext is the whole secret.
    "crypt": (lambda p: crypt_hash(p, "ab"), "crypt8ch", "John", "Backus"),
}
# Formats Django 5.2 no longer ships, so check_password cannot check them.
UNCHECKABLE = {"sha1", "unsalted_sha1", "unsalted_md5", "crypt"}
HIGH_ID = 1000


def configure():
    overrides = {
        "SECRET_KEY": SECRET_KEY,
        "INSTALLED_APPS": [*peer.INSTALLED_APPS, "rest_framework.authtoken"],
        "DATABASES": {
            "default": {**peer.DATABASES["default"], "NAME": DATABASE, "CONN_MAX_AGE": 0}
        },
        "SIMPLE_JWT": {
            **peer.SIMPLE_JWT,
            "ACCESS_TOKEN_LIFETIME": CENTURY,
            "REFRESH_TOKEN_LIFETIME": CENTURY,
        },
        "PASSWORD_HASHERS": [
            "password_hashes.FastPBKDF2",
            "password_hashes.FastPBKDF2SHA1",
            "password_hashes.FastArgon2",
            "password_hashes.FastBCryptSHA256",
            "password_hashes.FastBCrypt",
            "password_hashes.FastScrypt",
            "django.contrib.auth.hashers.MD5PasswordHasher",
        ],
    }
    inherited = {k: getattr(peer, k) for k in dir(peer) if k.isupper() and k not in overrides}
    settings.configure(**inherited, **overrides)
    django.setup()


def fresh_database():
    """DROP and CREATE DATABASE: Django has no public API for these."""
    import psycopg

    db = settings.DATABASES["default"]
    params = {"host": db["HOST"], "port": db["PORT"], "user": db["USER"]}
    if db["PASSWORD"]:
        params["password"] = db["PASSWORD"]
    with psycopg.connect(dbname="postgres", autocommit=True, **params) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DATABASE}"')


def at(days):
    """A fixed instant (not "now"), so regenerations differ little."""
    return datetime.datetime(2019, 1, 1, 9, 30, tzinfo=UTC) + datetime.timedelta(days=days)


def issued_at(when, token_class, lifetime, user):
    """`token_class.for_user(user)` as SimpleJWT would have run it at `when`."""
    with mock.patch("rest_framework_simplejwt.tokens.aware_utcnow", return_value=when), \
            mock.patch.object(token_class, "lifetime", lifetime):
        return token_class.for_user(user)


def main():
    configure()

    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group, Permission
    from django.contrib.contenttypes.models import ContentType
    from django.core.management import call_command
    from django.core.management.color import no_style
    from django.db import connection
    from django.utils import timezone
    from rest_framework.authtoken.models import Token
    from rest_framework_simplejwt import __version__ as simplejwt_version
    from rest_framework_simplejwt.exceptions import TokenError
    from rest_framework_simplejwt.token_blacklist.models import OutstandingToken
    from rest_framework_simplejwt.tokens import AccessToken, RefreshToken
    from rest_framework_simplejwt.utils import datetime_from_epoch

    User = get_user_model()

    fresh_database()
    call_command("migrate", verbosity=0, interactive=False)

    # Permissions and groups.
    book = ContentType.objects.create(app_label="library", model="book")
    perms = {
        f"{action}_book": Permission.objects.create(
            content_type=book, codename=f"{action}_book", name=f"Can {action} book"
        )
        for action in ("add", "change", "delete", "view", "publish")
    }
    view_user = Permission.objects.get(content_type__app_label="auth", codename="view_user")
    change_user = Permission.objects.get(content_type__app_label="auth", codename="change_user")
    editors = Group.objects.create(name="editors")
    editors.permissions.set(
        [perms["change_book"], perms["view_book"], perms["publish_book"], view_user]
    )
    readers = Group.objects.create(name="readers")
    readers.permissions.set([perms["view_book"]])

    # Users.
    users = {}  # username -> (user, plaintext, format)

    def add(username, password, hasher, email=None, day=0, login=None, **fields):
        user = User(
            username=username,
            email=f"{username}@example.com" if email is None else email,
            date_joined=at(day),
            last_login=None if login is None else at(day + login),
            **fields,
        )
        if password is None:
            user.set_unusable_password()
            name = "unusable"
        elif callable(hasher):
            user.password = hasher(password)
            name = username.replace("-", "_")
        else:
            user.password = hashers.make_password(password, hasher=hasher)
            name = hasher
        user.save()
        users[username] = (user, password, name)
        return user

    for index, (name, (hasher, password, first, last)) in enumerate(FORMATS.items()):
        add(name.replace("_", "-"), password, hasher, day=30 * index,
            login=(400 + index) if index % 3 != 2 else None,
            first_name=first, last_name=last)
    add("admin", "admin passphrase", "pbkdf2_sha256", day=0, login=1800,
        first_name="Admin", is_staff=True, is_superuser=True)
    staff = add("staff", "staff passphrase", "pbkdf2_sha256", day=10, login=1700,
                first_name="Staff", last_name="Member", is_staff=True)
    inactive = add("inactive", "inactive passphrase", "pbkdf2_sha256", day=20, login=100,
                   first_name="Gone", last_name="Away", is_active=False)
    add("unusable", None, None, day=500, first_name="Social", last_name="Login")
    # A gap in the ids.
    User.objects.create_user("deleted", "deleted@example.com", "deleted passphrase").delete()
    add("twin-upper", "twin upper passphrase", "pbkdf2_sha256", email="Case.Twin@Example.com", day=600)
    add("twin-lower", "twin lower passphrase", "pbkdf2_sha256", email="case.twin@example.com", day=601)
    add("no-email-1", "no email one passphrase", "pbkdf2_sha256", email="", day=700)
    add("no-email-2", "no email two passphrase", "pbkdf2_sha256", email="", day=701, login=5)
    # The last user has a high id (given explicitly, as restored or merged databases
    # have), and the sequence follows it as `loaddata` makes it follow.
    add("bad-email", "bad email passphrase", "pbkdf2_sha256", email="not-an-email", day=800,
        id=HIGH_ID)
    with connection.cursor() as cursor:
        for sql in connection.ops.sequence_reset_sql(no_style(), [User]):
            cursor.execute(sql)

    u = {name: user for name, (user, _, _) in users.items()}
    u["pbkdf2-sha256"].groups.set([editors, readers])
    u["argon2"].groups.set([readers])
    staff.groups.set([editors])
    u["bcrypt"].user_permissions.set([perms["publish_book"]])
    staff.user_permissions.set([change_user])

    # Every plaintext checks against its stored hash, read back from the database.
    for username, (user, password, name) in users.items():
        stored = User.objects.get(pk=user.pk)
        if password is None:
            assert not stored.has_usable_password(), username
        elif name not in UNCHECKABLE:
            assert hashers.check_password(password, stored.password), username
            algorithm = hashers.identify_hasher(stored.password).algorithm
            expected = "argon2" if name == "argon2i" else name
            assert algorithm == expected, (username, stored.password)

    # DRF keys.
    drf_tokens = [
        {"username": x.username, "user_id": x.id, "key": Token.objects.create(user=x).key}
        for x in (u["pbkdf2-sha256"], inactive)
    ]

    # SimpleJWT refresh tokens (for_user records each as an OutstandingToken).
    now = timezone.now()
    refresh = []
    for name in ("pbkdf2-sha256", "argon2"):
        refresh.append((u[name], RefreshToken.for_user(u[name]), "outstanding"))
    blacklisted = RefreshToken.for_user(u["bcrypt"])
    blacklisted.blacklist()
    refresh.append((u["bcrypt"], blacklisted, "blacklisted"))
    # Issued ten days ago for a day (the peer's refresh lifetime).
    expired = issued_at(now - datetime.timedelta(days=10), RefreshToken,
                        datetime.timedelta(days=1), u["scrypt"])
    refresh.append((u["scrypt"], expired, "expired"))
    refresh.append((inactive, RefreshToken.for_user(inactive), "outstanding"))

    # SimpleJWT access tokens (stateless).
    access = [
        (u["pbkdf2-sha256"], AccessToken.for_user(u["pbkdf2-sha256"]), "live"),
        (inactive, AccessToken.for_user(inactive), "live"),
        # Issued a day ago for five minutes (the peer's access lifetime).
        (u["argon2"], issued_at(now - datetime.timedelta(days=1), AccessToken,
                                datetime.timedelta(minutes=5), u["argon2"]), "expired"),
    ]

    # The tokens are what SimpleJWT says they are, and the outstanding rows match them.
    for user, token, state in refresh:
        row = OutstandingToken.objects.get(jti=token["jti"])
        assert row.user_id == user.id and row.token == str(token), user.username
        assert row.expires_at == datetime_from_epoch(token["exp"]), user.username
        assert hasattr(row, "blacklistedtoken") == (state == "blacklisted"), user.username
        try:
            RefreshToken(str(token))
            verdict = "outstanding"
        except TokenError as error:
            verdict = {"Token is blacklisted": "blacklisted",
                       "Token is expired": "expired"}[str(error)]
        assert verdict == state, (user.username, verdict, state)
    assert OutstandingToken.objects.count() == len(refresh)
    for user, token, state in access:
        try:
            AccessToken(str(token))
            verdict = "live"
        except TokenError as error:
            assert str(error) == "Token is expired", error
            verdict = "expired"
        assert verdict == state, (user.username, verdict, state)

    fixture = {
        "django": django.get_version(),
        "simplejwt": simplejwt_version,
        "secret_key": SECRET_KEY,
        "database": DATABASE,
        "users": [
            {
                "id": user.id,
                "username": user.username,
                "email": user.email,
                "password": password,
                "hasher": name,
                "is_active": user.is_active,
                "is_staff": user.is_staff,
                "is_superuser": user.is_superuser,
            }
            for user, password, name in sorted(users.values(), key=lambda t: t[0].id)
        ],
        "drf_tokens": drf_tokens,
        "refresh_tokens": [
            {"username": user.username, "user_id": user.id, "jti": token["jti"],
             "token": str(token), "state": state}
            for user, token, state in refresh
        ],
        "access_tokens": [
            {"username": user.username, "user_id": user.id, "token": str(token), "state": state}
            for user, token, state in access
        ],
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(fixture, indent=2, ensure_ascii=False) + "\n")
    print(f"wrote {OUT} ({len(users)} users, Django {django.get_version()}, "
          f"SimpleJWT {simplejwt_version})", file=sys.stderr)


if __name__ == "__main__":
    main()
