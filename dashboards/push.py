"""Upload the committed dashboards to a running Grafana (``heatwatch dashboards push``).

Provisioning from files is the normal path (docker-compose mounts ``dashboards/json``); push is
for a Grafana we do not deploy, such as a utility's existing one. It talks to the HTTP API
through grafana-client (the maintained successor of grafana-api): it makes sure the folder
exists, then ``POST /api/dashboards/db`` with ``overwrite: true`` for each dashboard, so a push
is idempotent and the uids (which links between dashboards use) stay the same.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

__all__ = ["PushError", "push_dashboards"]

log = logging.getLogger(__name__)
FOLDER_UID = "heatwatch"
FOLDER_TITLE = "heatwatch"


class PushError(RuntimeError):
    """Grafana refused or could not be reached; the message says which dashboard and why."""


def push_dashboards(
    url: str,
    token: str,
    dashboards: Mapping[str, Mapping[str, Any]],
    *,
    folder_uid: str = FOLDER_UID,
    folder_title: str = FOLDER_TITLE,
    timeout: float = 10.0,
) -> list[str]:
    """Upload every dashboard into the folder; returns the uids written, in order."""
    # Imported here: only push needs grafana-client (the `dashboards` extra), generate does not.
    from grafana_client.api import GrafanaApi
    from grafana_client.client import GrafanaClientError, GrafanaException
    from niquests.exceptions import RequestException  # grafana-client's HTTP library

    api = GrafanaApi.from_url(url, credential=token, timeout=timeout)
    try:
        try:
            api.folder.get_folder(folder_uid)
        except GrafanaClientError as exc:
            if exc.status_code != 404:
                raise
            api.folder.create_folder(folder_title, uid=folder_uid)
            log.info("created Grafana folder %s", folder_uid)
        written = []
        for name, doc in dashboards.items():
            body = {
                "dashboard": {**doc, "id": None},  # match by uid, never by a local id
                "folderUid": folder_uid,
                "overwrite": True,
                "message": "heatwatch dashboards push",
            }
            try:
                api.dashboard.update_dashboard(body)
            except GrafanaException as exc:
                raise PushError(f"dashboard {name}: Grafana said {exc.status_code}: "
                                f"{exc.message}") from exc
            written.append(str(doc.get("uid")))
            log.info("pushed dashboard %s (%s)", doc.get("uid"), name)
        return written
    except GrafanaException as exc:
        raise PushError(f"Grafana at {url}: {exc.status_code}: {exc.message}") from exc
    except RequestException as exc:
        # Refused, unknown host, TLS, bad URL: grafana-client lets these through unwrapped.
        raise PushError(f"cannot reach Grafana at {url}: {_reason(exc)}") from exc


def _reason(exc: Exception) -> str:
    """The useful part of a connection error (the OS's words), on one line."""
    text = str(exc)
    found = re.search(r"\[Errno -?\d+\] ([^'\")]+)", text)
    return (found.group(1) if found else text or type(exc).__name__).replace("\n", " ")[:200]
