"""Secrets out of the record: values that look like credentials are recorded redacted.

A step records every scalar argument, and ``tracker.log_params`` whatever it is
given, so an API key passed as an argument would land in the store in clear
(MLflow users met exactly this: everycure-org/matrix#407, allenai/rslearn#687).
Before a value becomes a property it goes through :func:`value`:

- by its *name*: a name whose words say it holds a credential (``api_key``,
  ``db_password``, ``GITHUB_TOKEN``, ``client_secret``, ``authorization``...)
  has its value replaced whole. Names are split into words (snake_case,
  kebab-case, camelCase), so ``max_tokens``, ``tokenizer``, ``token_count``,
  ``pad_token``, ``secretary``, ``keyboard``, ``passage`` and ``author`` stay;
- by its *text*: a string is scanned for credential shapes (PEM private keys,
  passwords in URLs, ``password=...`` fields, bearer tokens, JWTs, AWS, GitHub,
  Slack, OpenAI, Stripe... keys); only the secret part is replaced, so a URL
  keeps everything but its password.

A replaced value reads ``[REDACTED by tracker: <reason>]`` and the record's
custom property ``tracker_redacted`` lists the names that were redacted.
``tracker.configure(redact_names=..., redact_patterns=..., unredacted_names=...)``
adds names and patterns, or exempts names. The user's function always gets
its real arguments: only what is recorded changes. See docs/secrets.md.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import functools
import itertools
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from tracker.errors import RedactionConfigError

#: The text that replaces a secret; ``{}`` is the reason.
MARKER = "[REDACTED by tracker: {}]"
#: The custom property that lists, comma-separated, the names whose values were redacted.
PROPERTY = "tracker_redacted"
#: Strings shorter than this hold no built-in secret shape (the shortest is ``pwd=x``): they are not scanned.
MIN_SCAN = 5
#: Nested dicts and lists deeper than this are not looked into: they are recorded as one redacted value.
MAX_DEPTH = 32

_MARKER_START = MARKER.split("{", 1)[0]

# --- names ---------------------------------------------------------------------------------------

#: snake_case, kebab-case, dotted, camelCase and ACRONYMCase names into words (digits are dropped).
_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+")


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


#: Words that make a name secret wherever they stand (unless a descriptor ends the name).
_SECRET_WORDS = _words(
    "password passwords passwd pwd passphrase passcode secret secrets credential credentials creds cred "
    "apikey apikeys privatekey authorization auth oauth bearer cookie cookies dsn accesstoken authtoken "
    "refreshtoken secretkey accesskey clientsecret sessionkey csrftoken xsrftoken connectionstring connstr "
    "privkey"
)
#: Qualifiers that make "key" a secret (``api_key``, ``private_key``): a ``sort_key`` or ``rng_key`` is not one.
_KEY_QUALIFIERS = _words(
    "api access secret private signing sign encryption encrypt decryption master account client consumer app "
    "application auth hmac ssh session service admin subscription storage license webhook deploy gpg pgp jwt "
    "fernet aes rsa ecdsa ed crypto cipher sas shared aws openai anthropic stripe github gh hf huggingface "
    "wandb cohere mistral google gcp azure slack twilio sendgrid mailgun pinecone groq deepseek together "
    "replicate datadog dd sentry npm pypi docker product vault root"
)
#: Qualifiers that make "token" an identity token whatever else the name says (``use_auth_token``).
_TOKEN_QUALIFIERS = _words(
    "auth access refresh api bearer oauth session id csrf xsrf github gh gitlab hf huggingface hub slack bot "
    "discord telegram npm pypi personal private secret jwt service app client admin security sas wandb sentry "
    "vault login deploy registry docker aws azure gcp google openai anthropic notion twitter stripe cloudflare "
    "heroku netlify vercel circleci travis codecov snyk jira atlassian figma bitbucket webhook okta auth0 "
    "firebase supabase cohere replicate mistral groq pinecone kaggle comet neptune mlflow clearml user"
)
#: Qualifiers that make "token" a piece of text (``pad_token``, ``cls_token``, ``image_token``).
_TEXT_TOKEN_QUALIFIERS = _words(
    "cls bos eos pad unk mask sep special start end stop eot eom fim sos begin image img text vision audio "
    "video placeholder default first last next prev previous target source decoder encoder vocab reserved "
    "control sentinel dummy null empty blank bpe word sub subword char byte predicted generated context system "
    "think thinking reasoning tool prompt input output completion new extra added mention entity tag pos"
)
#: Qualifiers that make "pass" a password (``db_pass``): a ``first_pass`` is not one.
_PASS_QUALIFIERS = _words(
    "db database user admin root login account ftp smtp mail email proxy ssh sudo mysql pg postgres redis "
    "ldap wifi vault keystore truststore key basic"
)
#: Qualifiers that make "session" a web session: "session" alone is one too, a ``training_session`` not.
_SESSION_QUALIFIERS = _words("user web http browser login auth cookie flask django")
#: Last words that say the name is *about* a secret, not the secret: ``password_file``, ``token_count``.
_DESCRIPTORS = _words(
    "name names file files filename path paths dir directory folder env environ var vars variable envvar "
    "length len size count counts num number min max type types kind format fmt hash hashed digest policy "
    "rule rules regex pattern field fields column columns col prefix suffix provider backend method mode "
    "scheme version expiry expires expiration expire ttl timeout age enabled enable required strength "
    "location manager arn ref id ids index idx budget limit limits rate ratio weight weights embedding "
    "embeddings emb dropout dim dims level position threshold probs prob logits logprobs url uri endpoint "
    "host port server region user username label labels mask shape map mapping lookup cache scope scopes "
    "audience issuer algorithm alg interval retries attempts validation check flag bucket list dict set "
    "loss losses accuracy score scores per second seconds usage used cost"
)
#: First words of counts and switches: ``max_tokens``, ``num_keys``, ``has_password``.
_COUNTING = _words("max min num n count total avg mean has is")
#: Last words that wrap a value without changing what it is: ``token_value``, ``api_key_b64``.
_WRAPPERS = _words("value val str string raw plain text b64 base64 hex bytes literal")
#: Adjacent word pairs that name a secret anywhere in a name (``connection_string_prod``).
_PAIRS = frozenset([("connection", "string"), ("conn", "str"), ("conn", "string")])


def builtin_secret_name(name: str) -> bool:
    """Whether *name* says it holds a credential, by its words (see the module docstring)."""
    words = [w.lower() for w in _WORD.findall(name)]
    if not words or (len(words) > 1 and words[0] in _COUNTING):
        return False
    whole = any(pair in _PAIRS for pair in itertools.pairwise(words))
    while len(words) > 1 and words[-1] in _WRAPPERS:
        words.pop()
    head, qualifiers = words[-1], words[:-1]
    if qualifiers and head in _DESCRIPTORS:
        return False
    if whole or any(w in _SECRET_WORDS for w in words):
        return True
    for before, word in itertools.pairwise(words):
        if (word in ("key", "keys") and before in _KEY_QUALIFIERS) or (
            word in ("token", "tokens") and before in _TOKEN_QUALIFIERS
        ):
            return True
        if word == "pass" and before in _PASS_QUALIFIERS:
            return True
    if head == "token":
        return not any(q in _TEXT_TOKEN_QUALIFIERS for q in qualifiers)
    if head == "session":
        return not qualifiers or any(q in _SESSION_QUALIFIERS for q in qualifiers)
    return False


# --- text ----------------------------------------------------------------------------------------
#
# A string is scanned in passes, each behind a cheap test (``in`` runs at C speed) so that ordinary
# values (paths, model names, prose) cost a few hundred nanoseconds. Every repetition is bounded:
# a long string costs linear time whatever it holds (no ReDoS).

_PEM = re.compile(
    r"-----BEGIN[A-Z0-9 ]{0,32}PRIVATE KEY(?: BLOCK)?-----[\s\S]*?"
    r"(?:-----END[A-Z0-9 ]{0,32}PRIVATE KEY(?: BLOCK)?-----|\Z)"
)
# scheme://user:password@host; a password may hold "@" (the host follows the last one), not "/", "?" or "#"
_URL = re.compile(
    r"\b([A-Za-z][A-Za-z0-9+.\-]{0,31}://[^\s:/@]{0,256}:)[^\s@/?#]{1,256}(?:@[^\s@/?#]{0,256}){0,8}?@"
    r"(?=[^\s@/?#]{0,256}(?:[/?#\s,;'\")\]>]|$))"
)
# name=value, name: value, "name": "value", --name value: redacted when the name is a secret's
_VALUE = (
    r"(\"[^\"\n]{0,4096}\"|'[^'\n]{0,4096}'|\{[^}\n]{0,4096}\}"
    r"|(?i:bearer|basic|token|digest)[ \t]{1,8}[^\s;&,'\"]{1,4096}|[^\s;&,'\"<>()\[\]{}]{1,4096})"
)
_FIELD = re.compile(
    r"(?<![\w.])([A-Za-z_][\w.\-]{0,63})([\"']?[ \t]{0,8}[=:][ \t]{0,8})"
    r"|(?<![\w\-])--([A-Za-z][\w\-]{0,63})([ \t]{1,8})(?![\-\s])"
)
_FIELD_VALUE = re.compile(_VALUE)
_STEMS = ("pass", "pwd", "secret", "token", "key", "auth", "cred", "cookie", "session", "dsn")
# tokens of known shapes start a run of token characters; each run is matched against them once
_RUN = re.compile(r"[A-Za-z0-9_.\-]{16,8192}")
_TOKEN_SHAPES: list[tuple[str, str]] = [
    ("AWS access key id", r"(?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AIPA|ANPA|ANVA|AROA|APKA|ASCA)[A-Z0-9]{16}\b"),
    ("GitHub token", r"(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_\w{22,255})\b"),
    ("GitLab token", r"glpat-[\w\-]{20,255}"),
    ("Slack token", r"(?:xox[abposre]-[A-Za-z0-9\-]{10,255}|xapp-\d-[A-Za-z0-9\-]{10,255})"),
    ("Anthropic key", r"sk-ant-[\w\-]{20,255}"),
    ("OpenAI-style secret key", r"sk-[\w\-]{20,255}"),
    ("Stripe key", r"(?:(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,255}|whsec_[A-Za-z0-9]{20,255})"),
    ("Hugging Face token", r"hf_[A-Za-z0-9]{30,255}\b"),
    ("Google credential", r"(?:AIza[\w\-]{35}|ya29\.[\w\-]{20,2048}|GOCSPX-[\w\-]{20,255})"),
    ("npm token", r"npm_[A-Za-z0-9]{36}\b"),
    ("PyPI token", r"pypi-AgE[\w\-]{50,4096}"),
    ("SendGrid key", r"SG\.[\w\-]{20,255}\.[\w\-]{20,255}"),
    ("API token",
     r"(?:do[pro]_v1_[a-f0-9]{64}|shp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}|dapi[a-f0-9]{32}|gsk_[A-Za-z0-9]{40,255}"
     r"|r8_[A-Za-z0-9]{30,255}|key-[0-9a-f]{32}|SK[0-9a-fA-F]{32}|dp\.(?:pt|st|sa|ct)\.[A-Za-z0-9]{40,255}"
     r"|AGE-SECRET-KEY-1[0-9A-Z]{58})\b"),
    ("JWT", r"eyJ[\w\-]{8,8192}\.eyJ[\w\-]{8,8192}\.[\w\-]{0,8192}"),
]  # fmt: skip
_TOKEN = re.compile("|".join(f"(?P<t{i}>{pattern})" for i, (_, pattern) in enumerate(_TOKEN_SHAPES)))
_TOKEN_REASON = {f"t{i}": reason for i, (reason, _) in enumerate(_TOKEN_SHAPES)}
# shapes that need a delimiter inside them, each behind its own literal test
_OTHERS: list[tuple[str, str, re.Pattern[str]]] = [
    ("earer ", "bearer token", re.compile(r"(?<=[Bb]earer )(?=[\w\-.~+/]{0,4096}[0-9\-._~+/])[\w\-.~+/]{8,4096}=*")),
    ("sig=", "SAS signature", re.compile(r"(?<=[?&]sig=)[\w%+/=]{16,1024}")),
    ("hooks.slack.com", "Slack webhook",
     re.compile(r"(?<=hooks\.slack\.com/services/)[A-Za-z0-9]{1,64}/[A-Za-z0-9]{1,64}/[A-Za-z0-9]{1,64}")),
    ("/api/webhooks/", "Discord webhook", re.compile(r"(?<=/api/webhooks/)\d{1,32}/[\w\-]{20,255}")),
    (":AA", "Telegram bot token", re.compile(r"\b\d{8,10}:AA[\w\-]{33}\b")),
]  # fmt: skip
_SCHEMES = ("bearer ", "basic ", "token ", "digest ")
_URL_ONLY = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]{0,31}://\S+")


def _marker(reason: str) -> str:
    return MARKER.format(reason)


_URL_PASSWORD = _marker("password in URL") + "@"
_CONFIGURED = _marker("configured pattern")


def _fields(text: str) -> str:
    """*text* with the value after each secret name (``name=``, ``name:``, ``--name``) redacted.

    The names are found first and a value is taken only after a secret's name, so a benign field's
    value (``https:`` before ``//host?token=...``) is still searched for names.
    """
    parts: list[str] = []
    done = 0
    for found in _FIELD.finditer(text):
        if found.start() < done:
            continue  # inside a value redacted already
        option = found.group(1) is None
        if name_reason(found.group(3) if option else found.group(1)) is None:
            continue
        value = _FIELD_VALUE.match(text, found.end())
        if value is None or value.group().startswith(_MARKER_START):
            continue
        given = value.group()
        quote = given[0] if given[0] in "\"'{" else ""
        inner = given[1:-1] if quote else given
        scheme = inner[: inner.find(" ") + 1] if inner[:7].lower().startswith(_SCHEMES) else ""
        reason = "secret-named option" if option else "secret-named field"
        parts += [text[done : value.start()], quote, scheme, _marker(reason), "}" if quote == "{" else quote]
        done = value.end()
    return "".join([*parts, text[done:]]) if parts else text


def _token(match: re.Match[str]) -> str:
    """A run of token characters, with the known token shape it starts with (if any) redacted."""
    run = match.group()
    found = _TOKEN.match(run)
    if found is None:
        return run
    return _marker(_TOKEN_REASON[found.lastgroup or ""]) + run[found.end() :]


def _builtin(text: str) -> str:
    """*text* with the built-in secret shapes replaced (the same object when it holds none)."""
    if len(text) < MIN_SCAN:
        return text
    found = text
    if "PRIVATE KEY" in found:
        found = _PEM.sub(_marker("private key"), found)
    if "://" in found and "@" in found:
        found = _URL.sub(lambda m: m.group(1) + _URL_PASSWORD, found)
    if "=" in found or ":" in found or "--" in found:
        lowered = found.lower()
        if any(stem in lowered for stem in _STEMS):
            found = _fields(found)
    if len(found) >= 16:
        found = _RUN.sub(_token, found)
    for literal, reason, pattern in _OTHERS:
        if literal in found:
            found = pattern.sub(_marker(reason), found)
    return text if found == text else found


def scan(text: str) -> str:
    """*text* with every secret shape in it (built in or configured) replaced by a marker.

    Returns the same object when there is none, so callers can tell with ``is``.
    """
    text = _builtin(text)
    for pattern in _patterns:
        found = pattern.sub(_CONFIGURED, text)
        text = text if found == text else found
    return text


# --- configuration -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rules:
    """The user's additions: names to redact, patterns to redact, names to leave alone (all checked)."""

    names: tuple[str, ...] = ()
    patterns: tuple[re.Pattern[str], ...] = ()
    unredacted: tuple[str, ...] = ()


_rules = Rules()
_patterns: tuple[re.Pattern[str], ...] = ()


def _never(name: str) -> bool:
    return False


_is_configured: Callable[[str], bool] = _never
_is_unredacted: Callable[[str], bool] = _never


@functools.lru_cache(maxsize=8192)
def name_reason(name: str) -> str | None:
    """Why a value named *name* is redacted whole ("secret name", "configured name"), or None.

    Cached by name: a step's parameter names repeat on every call. ``use()`` clears the cache.
    """
    if _is_unredacted(name):
        return None
    if _is_configured(name):
        return "configured name"
    return "secret name" if builtin_secret_name(name) else None


def _globs(globs: tuple[str, ...]) -> Callable[[str], bool]:
    if not globs:
        return _never
    match = re.compile("|".join(fnmatch.translate(g) for g in globs), re.IGNORECASE).match
    return lambda name: match(name) is not None


def updated(
    names: Iterable[str] | None = None,
    patterns: Iterable[str | re.Pattern[str]] | None = None,
    unredacted: Iterable[str] | None = None,
) -> Rules:
    """The current rules with the given parts replaced (None keeps a part), checked.

    Raises:
        RedactionConfigError: a name that is not a non-empty string, a pattern that does not compile or
            that matches empty text, or one string where a list belongs.
    """
    return Rules(
        _rules.names if names is None else _checked_names(names, "redact_names"),
        _rules.patterns if patterns is None else tuple(_compiled(p) for p in _listed(patterns, "redact_patterns")),
        _rules.unredacted if unredacted is None else _checked_names(unredacted, "unredacted_names"),
    )


def use(rules: Rules | None) -> None:
    """Make *rules* (None: the built-in rules alone) the ones every record goes through."""
    global _rules, _patterns, _is_configured, _is_unredacted
    _rules = rules or Rules()
    _patterns = _rules.patterns
    _is_configured = _globs(_rules.names)
    _is_unredacted = _globs(_rules.unredacted)
    name_reason.cache_clear()


def _listed(entries: Any, option: str) -> list[Any]:
    if isinstance(entries, (str, bytes, re.Pattern)) or not isinstance(entries, Iterable):
        raise RedactionConfigError(f"{option} takes a list; wrap a single entry: {option}=[{entries!r}]", entries)
    return list(entries)


def _checked_names(names: Iterable[str], option: str) -> tuple[str, ...]:
    found = _listed(names, option)
    for name in found:
        if not isinstance(name, str) or not name.strip():
            raise RedactionConfigError(
                f"{option} holds {name!r}; give argument or parameter names as non-empty strings "
                "(shell-style wildcards allowed: 'corp_*')",
                name,
            )
    return tuple(found)


def _compiled(pattern: str | re.Pattern[str]) -> re.Pattern[str]:
    if isinstance(pattern, str):
        try:
            compiled = re.compile(pattern)
        except re.error as exc:
            raise RedactionConfigError(
                f"redact_patterns holds {pattern!r}, which is not a regular expression ({exc}); "
                "write it as Python's re module reads it, e.g. r'corp-[0-9a-f]{32}'",
                pattern,
            ) from None
    elif isinstance(pattern, re.Pattern) and isinstance(pattern.pattern, str):
        compiled = pattern
    else:
        raise RedactionConfigError(f"redact_patterns holds {pattern!r}; give regular expressions as str", pattern)
    if compiled.search("") is not None:
        raise RedactionConfigError(
            f"redact_patterns holds {compiled.pattern!r}, which matches empty text and would redact everywhere; "
            "make it match the secret itself (e.g. '+' rather than '*')",
            pattern,
        )
    return compiled


# --- values --------------------------------------------------------------------------------------


def value(name: str | None, given: Any, depth: int = 0) -> Any:
    """What to record for *given*, named *name*: itself, or a copy with its secrets replaced by markers.

    Booleans and None are never secrets. Under a secret name, a number or a string is replaced whole
    (a URL keeps all but its password), and so is every leaf of a dict or list. Strings are scanned for
    secret shapes, dict items are judged by their keys. Other objects are recorded by their repr, so
    that is what is checked.
    """
    if given is None or isinstance(given, bool):
        return given
    reason = name_reason(name) if name is not None else None
    if isinstance(given, str):
        if reason is None:
            return scan(given)
        if given.startswith(_MARKER_START) and given.endswith("]"):
            return given  # redacted already (a value recorded twice)
        if _URL_ONLY.fullmatch(given):
            scanned = _builtin(given)
            if scanned.count(_MARKER_START) == 1 and _URL_PASSWORD in scanned:
                return scan(scanned)  # a URL under a secret name: only its password is secret
        return _marker(reason)
    if isinstance(given, (int, float)):
        return given if reason is None else _marker(reason)
    if depth >= MAX_DEPTH:
        return _marker("nested too deep to check")
    if isinstance(given, Mapping):
        items = {k: value(name if reason else (k if isinstance(k, str) else None), v, depth + 1)
                 for k, v in given.items()}  # fmt: skip
        return items if any(items[k] is not v for k, v in given.items()) else given
    if isinstance(given, (list, tuple)):
        listed = [value(name, v, depth + 1) for v in given]
        return listed if any(a is not b for a, b in zip(listed, given, strict=True)) else given
    if reason is not None:
        return _marker(reason)
    shown = repr(given)[:10_000]
    scanned = scan(shown)
    return given if scanned is shown else scanned


def note(record: dict[str, Any], label: str) -> None:
    """Add *label* to the comma-separated ``tracker_redacted`` list in *record*."""
    known = str(record.get(PROPERTY) or "")
    record[PROPERTY] = ",".join(dict.fromkeys([*filter(None, known.split(",")), label]))


def argument(name: str | tuple[str, str | int], label: str, given: Any, record: dict[str, Any]) -> Any:
    """What to record for a step's argument *given* (*name* as ``Recording._arguments`` gives it).

    An item of ``**kwargs`` is judged by its key, one of ``*args`` by the parameter's name. When
    something is redacted, *label* is noted in *record*'s ``tracker_redacted``.
    """
    if isinstance(name, tuple):
        name = name[1] if isinstance(name[1], str) else name[0]
    kind = type(given)
    if (kind is int or kind is float) and name_reason(name) is None:
        return given  # the common case, and the cheap one
    recorded = value(name, given)
    if recorded is not given:
        note(record, label)
    return recorded


def properties(values: Mapping[str, Any], record: dict[str, Any]) -> dict[str, Any]:
    """*values* (custom properties about to be recorded) with secrets redacted; noted in *record*.

    Tracker's own facts (``tracker_*``) are checked by value only: their names are tracker's.
    """
    found: dict[str, Any] = {}
    for key, given in values.items():
        recorded = given if key == PROPERTY else value(None if key.startswith("tracker_") else key, given)
        if recorded is not given:
            note(record, key)
        found[key] = recorded
    return found


#: At most this many parts of a value (dict items, list elements, fields) are looked at by :func:`secret_in`.
MAX_PARTS = 10_000
#: At most this many characters of a value's strings are scanned for secret shapes by :func:`secret_in`.
MAX_TEXT = 256 * 1024
#: Classes whose instances are secrets whatever they hold (pydantic's, and look-alikes).
SECRET_CLASSES = frozenset({"SecretStr", "SecretBytes", "Secret"})

_PLAIN = (bool, int, float, complex, bytes, bytearray, memoryview)


def secret_in(given: Any) -> str | None:
    """Where a value stored as an artifact holds a secret (e.g. ``"['db']['password']: secret name"``), or None.

    Looks into dicts, lists, tuples, sets, dataclasses and the attributes of plain objects, by name
    (keys, fields, attributes) and by text (every string), up to MAX_PARTS parts, MAX_TEXT characters
    of text and MAX_DEPTH levels: past that, the rest is not looked at. Arrays, frames, bytes and numbers
    hold no text worth scanning.
    """
    found = _secret_in(given, 0, [MAX_PARTS, MAX_TEXT], set())
    if found is None:
        return None
    path, reason = found
    return f"{''.join(reversed(path)) or 'the value'}: {reason}"


def _secret_in(given: Any, depth: int, budget: list[int], seen: set[int]) -> tuple[list[str], str] | None:
    """(the path to the secret, innermost first; why), or None. *budget*: [parts, characters] left."""
    budget[0] -= 1
    if budget[0] < 0 or depth > MAX_DEPTH or given is None or isinstance(given, _PLAIN):
        return None
    if type(given).__name__ in SECRET_CLASSES:
        return [], f"a {type(given).__name__}"
    if isinstance(given, str):
        if len(given) < MIN_SCAN or budget[1] <= 0:
            return None
        text = given[: budget[1]]
        budget[1] -= len(text)
        return None if scan(text) is text else ([], "text shaped like a credential")
    if id(given) in seen:
        return None
    seen.add(id(given))
    for name, part in _parts(given):
        if isinstance(name, str) and len(name) >= MIN_SCAN and scan(name) is not name:
            return ["[a key]"], "a key shaped like a credential"  # the key is the secret: not shown
        if isinstance(name, str) and part is not None and not isinstance(part, bool):
            reason = name_reason(name)
            if reason is not None:
                return [f"[{name!r}]"], reason
        found = _secret_in(part, depth + 1, budget, seen)
        if found is not None:
            found[0].append(f"[{name!r}]" if isinstance(name, str) else f"[{name}]")
            return found
        if budget[0] < 0:
            return None
    return None


def _parts(given: Any) -> Iterable[tuple[Any, Any]]:
    """(key, value) of the parts of a container or a plain object; none for anything else."""
    if isinstance(given, Mapping):
        return given.items()
    if isinstance(given, (list, tuple, set, frozenset)):
        return enumerate(given)
    if dataclasses.is_dataclass(given) and not isinstance(given, type):
        return ((f.name, getattr(given, f.name, None)) for f in dataclasses.fields(given))
    attributes = getattr(given, "__dict__", None)
    if isinstance(attributes, dict) and type(given).__module__ not in _OPAQUE_MODULES:
        return attributes.items()
    return ()


#: Modules whose objects are data, not configuration: their attributes are not looked into.
_OPAQUE_MODULES = frozenset({"numpy", "pandas.core.frame", "pandas.core.series"})
