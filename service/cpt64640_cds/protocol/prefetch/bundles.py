"""Reading a Bundle as clients send it: its entries and its `next` link, whatever else is there."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def bundle_entries(bundle: Mapping[str, Any]) -> list[Any]:
    """`Bundle.entry`, or nothing when a client sent something else there."""
    entries = bundle.get("entry")
    return entries if isinstance(entries, list) else []


def next_link(bundle: Mapping[str, Any]) -> str | None:
    links = bundle.get("link")
    for link in links if isinstance(links, list) else ():
        if isinstance(link, dict) and link.get("relation") == "next" and isinstance(link.get("url"), str):
            return link["url"]
    return None
