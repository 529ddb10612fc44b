"""``kind: http_check``: the example ``watchfloor.steps`` plugin.

Passes when a GET of ``url`` answers ``expect_status`` within the step's timeout
(5 s when it has none)::

    - id: smoke
      kind: http_check
      url: "http://{{ host }}/healthz"
      expect_status: 200
      on_fail: rollback
"""

from __future__ import annotations

import urllib.error
import urllib.request

from pydantic import BaseModel, ConfigDict, Field

from console.plugins import StepContext, StepFailed


class HttpCheckOptions(BaseModel):
    """The ``http_check`` step's own keys.

    Attributes:
        url: The URL to GET (http or https).
        expect_status: The status that passes the step.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str = Field(pattern=r"^https?://")
    expect_status: int = 200


def http_check(options: HttpCheckOptions, context: StepContext) -> str:
    """GET the URL once; the sentence the step passed with, or `StepFailed`."""
    context.progress(f"GET {options.url}")
    try:
        with urllib.request.urlopen(options.url, timeout=context.timeout or 5.0) as response:  # noqa: S310 (http/https only, checked above)
            status = response.status
    except urllib.error.HTTPError as error:
        status = error.code
    except (urllib.error.URLError, OSError) as error:
        raise StepFailed(f"GET {options.url} failed: {getattr(error, 'reason', error)}") from None
    if status != options.expect_status:
        raise StepFailed(f"GET {options.url} answered {status}, expected {options.expect_status}")
    return f"GET {options.url} answered {status}"


http_check.config_model = HttpCheckOptions
