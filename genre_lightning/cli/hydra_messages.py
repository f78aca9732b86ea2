"""Refusals of Hydra, OmegaConf and the command line's parser, each as one line that says what
to do (they would print a usage text, a multi-line report or a traceback)."""

from __future__ import annotations

import re
from typing import Any

from omegaconf.errors import OmegaConfBaseException


def unresolvable(where: str, exc: OmegaConfBaseException) -> str:
    """The message of an interpolation that cannot be resolved (``where``: its key or
    override)."""
    reason = exc.msg.splitlines()[0] if exc.msg else type(exc).__name__
    if reason.split()[0][1:].islower():  # "Interpolation key ...", not "KeyError ..."
        reason = reason[:1].lower() + reason[1:]
    return (
        f"{where}: {reason}; a ${{...}} names a key of the config "
        f"(--cfg job lists them) or a resolver (oc.env, oc.select, ...), or give the value itself"
    )


def misplaced(arg: str, argv: list[str]) -> str:
    """The message for an argument the command line's parser could not place."""
    if arg.startswith("-"):
        return f"{arg}: no such option; the options are listed by --help (-m runs a sweep)"
    options = [a for a in argv if a.startswith("-")]
    after = options[0] if options else "an option"
    message = f"{arg}: a key=value after an option ({after}); put the options first"
    if set(options) <= {"-m", "--multirun", "--resolve"}:  # options without a value
        return f"{message}, e.g. {' '.join([*options, *(a for a in argv if a not in options)])}"
    return f"{message} (with their values, e.g. --cfg job)"


def missing_keys(node: Any, prefix: str = "") -> list[str]:
    """Dotted keys whose value is still ``???`` (without resolving any interpolation)."""
    if not isinstance(node, dict):
        return []
    found = []
    for key, value in node.items():
        if value == "???":
            found.append(f"{prefix}{key}")
        found += missing_keys(value, f"{prefix}{key}.")
    return found


def parse_error(arg: str, exc: BaseException) -> str:
    if "=" not in arg:  # `key value`, or a value with spaces the shell split into words
        key_like = re.fullmatch(r"[+~]*[\w.]+", arg)
        return (
            f"{arg}: not key=value; write each setting as key=value"
            + (f" ({arg}=...)" if key_like else "")
            + ", and quote a value that holds spaces whole, e.g. 'input=/my music/a.wav'"
        )
    reason = str(exc).split("\n")[0]
    if reason.startswith("LexerNoViableAltException"):
        reason = "a character Hydra does not read unquoted"
    return (
        f"{arg}: cannot be read as key=value ({reason}); quote a value that holds '=', ',', "
        f"spaces, brackets or non-ASCII letters, e.g. {quoted(arg)}"
    )


def quoted(arg: str) -> str:
    """``key=value`` as the shell should pass it for Hydra to read the value as one text (a
    quote already at either end, as of an unclosed one, is not doubled)."""
    key, _, value = arg.partition("=")
    return f"'{key}=\"{value.strip(chr(34) + chr(39))}\"'"


def one_line(exc: BaseException) -> str:
    """Hydra's multi-line composition error as one line that says what to do."""
    text = str(exc)
    unknown = re.match(r"Could not override '([^']+)'", text)
    if unknown:
        key = unknown.group(1)
        return (
            f"{key}: no such key (the keys are listed by --cfg job); to add a new key, "
            f"write +{key}=..."
        )
    missing = re.search(r"Could not find '([^']+)/([^']+)'", text)
    if missing:
        group, option = missing.groups()
        options = re.search(
            r"Available options in '[^']+':(.*?)(?:Config search path|$)", text, re.S
        )
        listed = ", ".join(options.group(1).split()) if options else "see --help"
        return f"{group}={option}: no such option (available: {listed})"
    merging = re.match(r"Error merging override (\S+)", text)
    if merging and exc.__cause__ is not None:  # a typed key of Hydra's (sweeper, launcher, job)
        return _typed_value(merging.group(1), str(exc.__cause__).splitlines()[0])
    lines = [line.strip() for line in text.split("Config search path")[0].splitlines()]
    return " ".join(line for line in lines if line and not line.startswith("full_key:"))


#: What OmegaConf's typed nodes take, by the type its refusal names: (in words, an example).
_TYPED_KINDS = {
    "Integer": ("a whole number", "1"),
    "Float": ("a number", "0.5"),
    "bool": ("true or false", "true"),
    "ListConfig": ("a list", "[a,b]"),
    "string": ("a text", "abc"),
}


def _typed_value(override: str, refusal: str) -> str:
    """The one line for ``override`` (``key=value``) refused by the type of its key in a
    structured config (``refusal``: the first line of OmegaConf's ``ValidationError``)."""
    key = override.partition("=")[0].lstrip("+")
    options = re.search(r"expected one of \[([^\]]*)\]", refusal)
    if options:
        return f"{override} is not known; use {key}={'|'.join(options.group(1).split(', '))}"
    # "Value '1.5' of type 'float' could not be converted to Integer", "... is not a valid
    # bool", "... is not a ListConfig": the quoted words are the value's, the other the key's.
    unquoted = re.sub(r"'[^']*'", "", refusal)
    wanted = [w for w in re.findall(r"\w+", unquoted) if w in _TYPED_KINDS]
    if wanted:
        kind, example = _TYPED_KINDS[wanted[0]]
        return f"{override} must be {kind} (Hydra's config types this key); e.g. {key}={example}"
    return f"{override}: {refusal}"
