"""Interop check against the public Standard Webhooks library for Python (`standardwebhooks`).

Driven by tests/callbacks_interop.rs. Reads one JSON request on stdin:
  {"secret": "whsec_...",
   "theirs": {"id": ..., "timestamp": <unix seconds>, "body": ...},
   "ours":   {"id": ..., "timestamp": "...", "signature": "...", "body": ...}}
and prints one JSON line:
  {"their_signature": "v1,...",        # their library's signature of "theirs"
   "ours_verified": true|false,        # their library accepts our headers
   "tampered_rejected": true|false}   # ... and rejects them over a changed body
Exits non-zero (a failing test, never a skip) if the package is missing.
"""

import json
import sys
from datetime import datetime, timezone

try:
    from standardwebhooks.webhooks import Webhook, WebhookVerificationError
except ImportError as error:  # the Rust test prints this and fails
    sys.exit(f"the `standardwebhooks` package is missing ({error}): pip install standardwebhooks")


def verifies(webhook: Webhook, body: str, headers: dict) -> bool:
    try:
        webhook.verify(body, headers, json_parse=False)
        return True
    except WebhookVerificationError:
        return False


def main() -> None:
    request = json.load(sys.stdin)
    webhook = Webhook(request["secret"])

    theirs = request["theirs"]
    signed_at = datetime.fromtimestamp(theirs["timestamp"], tz=timezone.utc)
    their_signature = webhook.sign(theirs["id"], signed_at, theirs["body"])

    ours = request["ours"]
    headers = {
        "webhook-id": ours["id"],
        "webhook-timestamp": ours["timestamp"],
        "webhook-signature": ours["signature"],
    }
    print(
        json.dumps(
            {
                "their_signature": their_signature,
                "ours_verified": verifies(webhook, ours["body"], headers),
                "tampered_rejected": not verifies(webhook, ours["body"] + " ", headers),
            }
        )
    )


if __name__ == "__main__":
    main()
