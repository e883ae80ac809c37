"""Writes infrastructure/tests/fixtures/django_password_hashes.json: passwords hashed
by real Django (5.2) with each of its password hashers, for the hasher tests.

    python3 -m venv .venv && .venv/bin/pip install Django==5.2.19 argon2-cffi==23.1.0 bcrypt==5.0.0
    .venv/bin/python scripts/django/password_hashes.py

The work factors are lowered (subclasses that change only the cost) so that debug
builds verify them quickly; the algorithms and encodings are Django's own. The legacy
hashers Django 5.x no longer ships (sha1, unsalted_sha1, unsalted_md5, crypt) are
encoded with the code of Django 4.2's hashers, copied below, as old databases hold them.

With `--default-costs` it writes django_password_hashes_default_cost.json instead:
the same passwords at Django 5.2's default work factors (argon2i at the defaults Django
used for it), for the login benchmark (`api/benches/import_django.rs`).
"""

import hashlib
import json
import pathlib
import sys

import django
from django.conf import settings

from django.contrib.auth import hashers  # noqa: E402


class FastPBKDF2(hashers.PBKDF2PasswordHasher):
    iterations = 1000


class FastPBKDF2SHA1(hashers.PBKDF2SHA1PasswordHasher):
    iterations = 1000


class FastArgon2(hashers.Argon2PasswordHasher):
    time_cost = 1
    memory_cost = 1024
    parallelism = 1


class FastBCryptSHA256(hashers.BCryptSHA256PasswordHasher):
    rounds = 4


class FastBCrypt(hashers.BCryptPasswordHasher):
    rounds = 4


class FastScrypt(hashers.ScryptPasswordHasher):
    work_factor = 2**10


def argon2i(password, salt):
    """Django < 3.2 wrote argon2i hashes: `argon2$argon2i$v=19$m=512,t=2,p=2$…`."""
    import argon2

    data = argon2.low_level.hash_secret(
        password.encode(),
        salt.encode(),
        time_cost=2,
        memory_cost=512,
        parallelism=2,
        hash_len=16,
        type=argon2.low_level.Type.I,
    )
    return "argon2" + data.decode("ascii")


# Django 4.2's legacy hashers, as they encoded.
def sha1(password, salt):
    return "sha1$%s$%s" % (salt, hashlib.sha1((salt + password).encode()).hexdigest())


def unsalted_sha1(password):
    return "sha1$$%s" % hashlib.sha1(password.encode()).hexdigest()


def unsalted_md5(password):
    return hashlib.md5(password.encode()).hexdigest()


def crypt_hash(password, salt):
    import crypt

    return "crypt$$%s" % crypt.crypt(password, salt)


PASSWORDS = {
    "pbkdf2_sha256": "pbkdf2 sha256 passphrase",
    "pbkdf2_sha1": "pbkdf2 sha1 passphrase",
    "argon2": "argon2id passphrase ünïcode",
    "argon2i": "argon2i passphrase from 2019",
    "bcrypt_sha256": "bcrypt sha256 " + "long " * 20,
    "bcrypt": "plain bcrypt passphrase",
    "scrypt": "scrypt passphrase",
    "md5": "salted md5 passphrase",
    "sha1": "salted sha1 passphrase",
    "unsalted_sha1": "unsalted sha1 passphrase",
    "unsalted_md5": "unsalted md5 passphrase",
    "crypt": "crypt8ch",
}

ALGORITHMS = {
    "pbkdf2_sha256": "pbkdf2_sha256",
    "pbkdf2_sha1": "pbkdf2_sha1",
    "argon2": "argon2",
    "bcrypt_sha256": "bcrypt_sha256",
    "bcrypt": "bcrypt",
    "scrypt": "scrypt",
    "md5": "md5",
}


def main():
    rows = []
    for name, password in PASSWORDS.items():
        if name in ALGORITHMS:
            encoded = hashers.make_password(password, hasher=ALGORITHMS[name])
            assert hashers.check_password(password, encoded), name
        elif name == "argon2i":
            encoded = argon2i(password, "somesaltsomesalt")
            assert hashers.check_password(password, encoded), name
        elif name == "sha1":
            encoded = sha1(password, "Pq3kHz9wL2mN")
        elif name == "unsalted_sha1":
            encoded = unsalted_sha1(password)
        elif name == "unsalted_md5":
            encoded = unsalted_md5(password)
        else:
            encoded = crypt_hash(password, "ab")
        rows.append({"hasher": name, "password": password, "encoded": encoded})
    if not DEFAULT_COSTS:
        unusable = hashers.make_password(None)
        assert not hashers.check_password("", unusable)
        rows.append({"hasher": "unusable", "password": "", "encoded": unusable})
    out = pathlib.Path(__file__).resolve().parents[2] / "infrastructure/tests/fixtures"
    out.mkdir(parents=True, exist_ok=True)
    name = "django_password_hashes_default_cost.json" if DEFAULT_COSTS else "django_password_hashes.json"
    path = out / name
    path.write_text(json.dumps(rows, indent=2, ensure_ascii=False) + "\n")
    print(f"wrote {path} ({len(rows)} hashes, Django {django.get_version()})", file=sys.stderr)


DEFAULT_COSTS = "--default-costs" in sys.argv[1:]


def configure():
    settings.configure(
        PASSWORD_HASHERS=[
            "django.contrib.auth.hashers.PBKDF2PasswordHasher",
            "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
            "django.contrib.auth.hashers.Argon2PasswordHasher",
            "django.contrib.auth.hashers.BCryptSHA256PasswordHasher",
            "django.contrib.auth.hashers.BCryptPasswordHasher",
            "django.contrib.auth.hashers.ScryptPasswordHasher",
            "django.contrib.auth.hashers.MD5PasswordHasher",
        ]
        if DEFAULT_COSTS
        else [
            "__main__.FastPBKDF2",
            "__main__.FastPBKDF2SHA1",
            "__main__.FastArgon2",
            "__main__.FastBCryptSHA256",
            "__main__.FastBCrypt",
            "__main__.FastScrypt",
            "django.contrib.auth.hashers.MD5PasswordHasher",
        ]
    )
    django.setup()


if __name__ == "__main__":
    configure()
    main()
