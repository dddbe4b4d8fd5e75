"""The one place where text reaches HTML: escaping, JSON inside ``<script>``, and the sandbox a page runs in.

User text (a table's node labels, module descriptions, run names, titles) is data. It reaches a page
only through :func:`escape_html` (element text and attribute values) or :func:`script_json` (values a
script reads), never as markup. A generated page that needs scripts (the pyvis graph) is wrapped by
:func:`sandboxed_page`: it runs in a nested ``<iframe sandbox="allow-scripts">`` (an opaque origin, so
even a script that slipped through could not reach the dashboard, its cookies or its storage) under a
Content-Security-Policy that allows only the page's own inline scripts, by hash: an injected
``onerror=`` handler, ``<script>`` or image request is refused by the browser.
"""
from __future__ import annotations

import base64
import hashlib
import html
import json
import re
from typing import Any

#: Inline ``<script>`` blocks without a ``src`` (their bodies are hashed for the CSP).
_INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", re.DOTALL | re.IGNORECASE)


def escape_html(text: object) -> str:
    """``text`` safe as HTML element content or a quoted attribute value (``& < > " '`` escaped)."""
    return html.escape(str(text), quote=True)


def script_json(value: Any) -> str:
    """``value`` as JSON that is safe inside an inline ``<script>``: ``<``, ``>``, ``&`` and the JS line
    separators are ``\\u`` escapes, so no string can close the script or open a comment."""
    text = json.dumps(value, ensure_ascii=False, allow_nan=False)
    for char, escape in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                         ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(char, escape)
    return text


def content_security_policy(page: str) -> str:
    """A CSP that lets ``page`` run only its own inline scripts (by SHA-256) and load nothing from
    anywhere: no network, no images but ``data:``, no inline event handlers, no ``eval``."""
    hashes = " ".join(
        f"'sha256-{base64.b64encode(hashlib.sha256(body.encode('utf-8')).digest()).decode()}'"
        for body in _INLINE_SCRIPT.findall(page))
    return (f"default-src 'none'; script-src {hashes}; style-src 'unsafe-inline'; img-src data:; "
            "font-src data:; base-uri 'none'; form-action 'none'")


def with_csp(page: str) -> str:
    """``page`` with :func:`content_security_policy` as the first element of its ``<head>``."""
    meta = f'<meta http-equiv="Content-Security-Policy" content="{escape_html(content_security_policy(page))}">'
    if re.search(r"<head[^>]*>", page, re.IGNORECASE):
        return re.sub(r"(<head[^>]*>)", lambda m: m.group(1) + meta, page, count=1, flags=re.IGNORECASE)
    return meta + page


def sandboxed_page(page: str, height: int) -> str:
    """An HTML document that shows ``page`` (with :func:`with_csp`) in a nested iframe sandboxed to
    ``allow-scripts`` only: no same origin, no forms, popups, modals (``alert``) or top navigation.

    Streamlit's own iframe grants ``allow-same-origin allow-scripts`` and more; this inner frame is what
    the graph actually needs."""
    return ("<!DOCTYPE html><html><head><meta charset='utf-8'>"
            "<style>html,body{margin:0;padding:0;overflow:hidden}iframe{border:0;display:block}</style></head>"
            f"<body><iframe sandbox='allow-scripts' referrerpolicy='no-referrer' width='100%' height='{int(height)}' "
            f"title='architecture graph' srcdoc=\"{escape_html(with_csp(page))}\"></iframe></body></html>")
