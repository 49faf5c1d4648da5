"""schemathesis fuzzes gunicorn, as deployed, against the OpenAPI document it serves.

Random uploads, PINs, reports and tokens (well and badly shaped), sent to 127.0.0.1 only,
a bounded number per operation: no answer may be a 5xx, or a status, content type, header
or JSON body the document does not describe. Live shares are made first, and a second
pass opens, views, reports and ends them, so the answers of real links are fuzzed too.
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from .deployed import gunicorn
from .helpers import jpeg_bytes

pytestmark = pytest.mark.django_db(transaction=True)

CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_headers_conformance",
        "response_schema_conformance",
        "unsupported_method",
        "allow_header_conformance",
    ]
)
# Examples per operation and pass: the whole test stays within about a minute and a half
# on a 2-core machine. Pages are checked for their content type only, so fewer of them.
MAX_EXAMPLES = 30
MAX_EXAMPLES_AS_BROWSER = 15
# Limits high enough that hammering one address exercises the real behaviour, not 429s
# (429 is a documented answer all the same).
HIGH_LIMITS = {
    f"SEEN_RATE_LIMIT_{name}": "100000/m"
    for name in ("UPLOADS", "VIEWS", "PIN_FAILURES", "MANAGE", "REPORTS")
}


def schemathesis(
    base_url: str, schema: Path, workdir: Path, *args: str, examples: int = MAX_EXAMPLES
) -> subprocess.CompletedProcess:
    command = [
        str(Path(sys.executable).with_name("schemathesis")),
        "run",
        str(schema),
        "--url",
        base_url,
        "--checks",
        CHECKS,
        "--max-examples",
        str(examples),
        "--phases",
        "examples,coverage,fuzzing",
        "--seed",
        "11",
        "--request-timeout",
        "20",
        "--max-redirects",
        "0",
        "--suppress-health-check",
        "all",
        "--no-color",
        *args,
    ]
    env = {**os.environ, "SCHEMATHESIS_HOOKS": "", "NO_COLOR": "1"}
    return subprocess.run(
        command, cwd=workdir, env=env, capture_output=True, text=True, timeout=300
    )


# Which live share each operation is given, so that one operation ending or suspending
# its share (DELETE, a report) leaves the others theirs to fuzz.
LIVE_SHARES = {
    ("/s/{token}", "get"): ("open", "pin"),
    ("/s/{token}", "post"): ("open", "pin"),
    ("/s/{token}/report", "get"): ("reported",),
    ("/s/{token}/report", "post"): ("reported",),
    ("/m/{token}", "get"): ("managed",),
    ("/m/{token}", "post"): ("managed",),
    ("/m/{token}", "delete"): ("deleted",),
}


def live_tokens(base_url: str) -> dict[str, dict[str, str]]:
    """Unlimited shares (so fuzzing cannot use them up), one of them behind a PIN."""
    tokens = {}
    for name in ("open", "pin", "reported", "managed", "deleted"):
        fields = {"views": "0", **({"pin": "2468"} if name == "pin" else {})}
        created = requests.post(
            base_url + "/api/shares",
            files={"photo": ("cat.jpg", jpeg_bytes(), "image/jpeg")},
            data=fields,
            timeout=20,
        )
        assert created.status_code == 201, created.text
        body = created.json()
        tokens[name] = {
            "share": body["url"].rsplit("/", 1)[1],
            "manage": body["manage_url"].rsplit("/", 1)[1],
        }
    return tokens


def with_examples(document: dict, tokens: dict[str, dict[str, str]]) -> dict:
    """The served document, with real tokens as each operation's examples."""
    document = json.loads(json.dumps(document))
    for (path, method), names in LIVE_SHARES.items():
        item = document["paths"][path]
        kind = "manage" if path.startswith("/m/") else "share"
        (token,) = item["parameters"]
        examples = {name: {"value": tokens[name][kind]} for name in names}
        item[method]["parameters"] = [{**token, "examples": examples}]
    for path, _method in LIVE_SHARES:
        document["paths"][path].pop("parameters", None)  # each operation has its own now
    return document


def test_schemathesis_finds_no_server_error_and_no_answer_outside_the_document(tmp_path):
    with gunicorn(tmp_path, **HIGH_LIMITS) as server:
        document = requests.get(server.url + "/api/openapi.json", timeout=10).json()
        schema = tmp_path / "openapi.json"
        schema.write_text(json.dumps(document))

        # As a browser asks (pages), then as a script asks (JSON errors).
        as_browser = schemathesis(server.url, schema, tmp_path, examples=MAX_EXAMPLES_AS_BROWSER)
        as_script = schemathesis(
            server.url, schema, tmp_path, "--header", "Accept: application/json"
        )

        # Real links: their pages, views, wrong PINs, reports and the manage answers.
        examples = tmp_path / "openapi-examples.json"
        examples.write_text(json.dumps(with_examples(document, live_tokens(server.url))))
        # One run per address: schemathesis may try one operation's examples on another
        # of the same run, and a report would then suspend the share the views are for.
        live = [
            schemathesis(
                server.url,
                examples,
                tmp_path,
                "--header",
                "Accept: application/json",
                "--include-path",
                path,
            )
            for path in sorted({path for path, _method in LIVE_SHARES})
        ]
        logs = server.logs()

    for name, run in [("as a browser", as_browser), ("as a script", as_script)] + [
        ("with live shares", run) for run in live
    ]:
        if run.returncode != 0:
            pytest.fail(f"schemathesis {name}:\n{run.stdout[-8000:]}{run.stderr[-2000:]}")
    # schemathesis sees each answer; the server's log also says whether any request
    # failed inside the app (Django logs those at ERROR, gunicorn logs every status).
    # Refused bodies log a warning (a multipart envelope without a boundary, with its
    # parser's traceback), which is a 400 answered as documented.
    server_errors = [
        line
        for line in logs.splitlines()
        if re.search(r'" 5[0-9][0-9] ', line) or " ERROR " in line or "CRITICAL" in line
    ]
    assert not server_errors, "\n".join(server_errors[:20])
    # The live pass reached real shares: a photo was viewed, a manage page shown.
    for request in ('"POST /s/… HTTP/1.1" 200', '"GET /m/… HTTP/1.1" 200'):
        assert request in logs, f"no {request} in the server's log"
