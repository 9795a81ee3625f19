"""The connection panel: an AWS profile / region / endpoint, or the local sandbox.

No secret is ever held in a widget trait: the panel names a profile from the AWS config
files (or the default credential chain); the boto3 client lives in a Python attribute.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Mapping
from typing import Any

import boto3
import ipywidgets as w
from botocore.exceptions import BotoCoreError

from hi_widgets import sandbox as sandbox_module
from hi_widgets.api.client import make_client

log = logging.getLogger("hi_widgets.widgets")

__all__ = ["DEFAULT_PROFILE", "MODE_AWS", "MODE_SANDBOX", "ConnectionPanel", "available_profiles"]

DEFAULT_PROFILE = "(default credentials)"
MODE_AWS = "AWS"
MODE_SANDBOX = "Local sandbox"


def available_profiles() -> list[str]:
    """Return the profile names boto3 knows from the AWS config files (may be empty)."""
    try:
        return sorted(boto3.Session().available_profiles)
    except BotoCoreError:  # a broken config file must not break the widget
        log.warning("could not read AWS profiles", exc_info=True)
        return []


def _stop_quietly(sandbox: Any) -> None:
    try:
        sandbox.stop()
    except Exception:
        log.warning("could not stop the hi_widgets sandbox", exc_info=True)


class ConnectionPanel(w.VBox):
    """Choose where requests go: an AWS profile and region, or a local sandbox.

    The panel has the CSS class ``hi-connection``. :meth:`connect` builds the client
    (starting the sandbox in this kernel for the sandbox choice); the sandbox is stopped
    when the panel is closed or garbage collected, or when another connection replaces
    it.

    Parameters
    ----------
    sandbox_options
        Keyword arguments for :func:`hi_widgets.sandbox.start` (e.g. ``seed``,
        ``quotas``). ``demo_s3`` defaults to whether moto is installed, so the demo's
        import jobs have their output to show (:meth:`s3_client`).
    client_options
        Extra keyword arguments for :func:`hi_widgets.make_client` /
        ``sandbox.client()`` (e.g. ``max_attempts``).
    """

    def __init__(
        self,
        *,
        sandbox_options: Mapping[str, Any] | None = None,
        client_options: Mapping[str, Any] | None = None,
    ) -> None:
        self.sandbox_options = {
            "demo_s3": sandbox_module.moto_available(),
            **(sandbox_options or {}),
        }
        self.client_options = dict(client_options or {})
        self.sandbox: Any = None
        self._finalizer: weakref.finalize[..., ConnectionPanel] | None = None
        self.mode = w.ToggleButtons(options=[MODE_AWS, MODE_SANDBOX], value=MODE_AWS)
        self.mode.add_class("hi-connection-mode")
        self.profile = w.Dropdown(
            options=[DEFAULT_PROFILE, *available_profiles()],
            value=DEFAULT_PROFILE,
            description="Profile",
        )
        self.profile.add_class("hi-profile")
        region = None
        try:
            region = boto3.Session().region_name
        except BotoCoreError:  # e.g. AWS_PROFILE names a missing profile
            log.warning("could not read the default AWS region", exc_info=True)
        self.region = w.Text(value=region or "", placeholder="us-east-1", description="Region")
        self.region.add_class("hi-region")
        self.endpoint = w.Text(
            value="", placeholder="optional, e.g. http://127.0.0.1:8080", description="Endpoint"
        )
        self.endpoint.add_class("hi-endpoint")
        self.connect_button = w.Button(
            description="Connect",
            icon="plug",
            button_style="primary",
            layout=w.Layout(width="auto", min_width="fit-content"),
        )
        self.connect_button.add_class("hi-connect")
        self.info = w.HTML(value="")
        self.info.add_class("hi-connection-info")
        self._aws_box = w.VBox([self.profile, self.region, self.endpoint])
        self.mode.observe(self._on_mode, names="value")
        super().__init__(
            [
                w.HTML("<b>Connection</b>"),
                self.mode,
                self._aws_box,
                w.HBox([self.connect_button, self.info]),
            ]
        )
        self.add_class("hi-connection")

    def _on_mode(self, change: Mapping[str, Any]) -> None:
        self._aws_box.layout.display = "none" if change["new"] == MODE_SANDBOX else ""

    def connect(self) -> Any:
        """Build a client for the current choice (blocking; the explorer calls it in a thread).

        Returns
        -------
        botocore.client.BaseClient
            A ``medical-imaging`` client.

        Raises
        ------
        CredentialsError
            If the profile does not exist or no region is known.
        ValueError
            If the endpoint URL is malformed.
        """
        if self.mode.value == MODE_SANDBOX:
            if self.sandbox is None:
                self.sandbox = sandbox_module.start(**self.sandbox_options)
                self._finalizer = weakref.finalize(self, _stop_quietly, self.sandbox)
            client = self.sandbox.client(**self.client_options)
            where = f"local sandbox at {self.sandbox.endpoint_url}"
        else:
            self.stop_sandbox()
            profile = None if self.profile.value == DEFAULT_PROFILE else self.profile.value
            client = make_client(
                profile=profile,
                region=self.region.value.strip() or None,
                endpoint_url=self.endpoint.value.strip() or None,
                **self.client_options,
            )
            where = f"{client.meta.region_name}" + (
                f" via {client.meta.endpoint_url}" if self.endpoint.value.strip() else ""
            )
            if profile:
                where = f"profile {profile}, {where}"
        self.info.value = f"Connected: {where}"
        return client

    def s3_client(self) -> Any:
        """Return a client for the local S3 of the sandbox started here, else None."""
        if self.sandbox is None or self.sandbox.s3_endpoint_url is None:
            return None
        return self.sandbox.s3_client()

    def stop_sandbox(self) -> None:
        """Stop the sandbox this panel started, if any."""
        sandbox, self.sandbox = self.sandbox, None
        if self._finalizer is not None:
            self._finalizer.detach()
            self._finalizer = None
        if sandbox is not None:
            _stop_quietly(sandbox)

    def close(self) -> None:
        """Close the widgets and stop the sandbox started here."""
        self.stop_sandbox()
        super().close()
