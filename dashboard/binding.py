"""Where the dashboard listens: the launcher's check of the bind address (llmcore.address: empty, malformed or
unresolvable ones are refused; any but loopback opens the dashboard to the network, said in a warning) and of
classroom mode's setting.
Light on purpose: the launcher runs it before the server starts."""

from __future__ import annotations

from llmcore.address import check_address, loopback  # noqa: F401 - the launcher's and classroom's

ENV = "LLM_LANDSCAPE_CLASSROOM"  # "1" (or the launcher's --classroom) turns classroom mode on; "0" or unset: off
ON, OFF = ("1", "true", "yes", "on"), ("0", "false", "no", "off", "")


def open_warning(address: str, classroom: bool) -> str:
    """What the launcher prints when the dashboard listens on more than this machine."""
    who = (f"warning: the dashboard listens on {address}, so it is open to the network: anyone who can reach this "
           "machine can use it. ")
    if classroom:
        return who + ("Classroom mode is on: visitors explore every page but cannot train, upload, edit worlds or "
                      "write files; this machine (localhost) keeps everything.")
    return who + ("They can train models, upload model folders and edit worlds on this machine; add --classroom "
                  "(or set LLM_LANDSCAPE_CLASSROOM=1) so that visitors can only explore.")


def setting(value: str | None) -> bool:
    """Classroom mode from the LLM_LANDSCAPE_CLASSROOM value; raises ValueError for a value that is neither on nor
    off."""
    text = (value or "").strip().lower()
    if text in ON or text in OFF:
        return text in ON
    raise ValueError(f"{ENV}={value[:40]!r}: use 1 (classroom mode on) or 0 (off)")


def check_forwarding(environ: dict[str, str]) -> None:
    """For classroom mode: refuse FORWARDED_ALLOW_IPS='*' (uvicorn would then take any client's X-Forwarded-For,
    so a visitor could name 127.0.0.1 and pass for the teacher); raises ValueError."""
    trusted = [t.strip() for t in environ.get("FORWARDED_ALLOW_IPS", "").split(",")]
    if "*" in trusted:
        raise ValueError("FORWARDED_ALLOW_IPS='*' trusts every client's X-Forwarded-For, so classroom mode could not "
                         "tell visitors from this machine; name your proxy's address instead (loopback is trusted "
                         "by default)")
