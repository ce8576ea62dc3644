"""Credentials, region and endpoint for `s3://`, taken the way the AWS CLI and boto3 take them.

Resolved here, in plain Python, rather than left to the object-store library, so that the rules are
ours to document and test, and so an error can say where a setting came from. Precedence:

- keys: `AWS_ACCESS_KEY_ID` + `AWS_SECRET_ACCESS_KEY` (+ `AWS_SESSION_TOKEN`), else the profile
  (`AWS_PROFILE`, else `default`) in `~/.aws/credentials` (`AWS_SHARED_CREDENTIALS_FILE`), else in
  `~/.aws/config` (`AWS_CONFIG_FILE`); else none, and requests go unsigned (public buckets);
- region: `AWS_REGION`, `AWS_DEFAULT_REGION`, the profile's `region`, else `us-east-1`;
- endpoint: `AWS_ENDPOINT_URL_S3`, `AWS_ENDPOINT_URL`, the profile's `endpoint_url`, else AWS.
  An `http://` endpoint (MinIO on a lab server) is allowed as it is.
"""

from __future__ import annotations

import configparser
import os
from collections.abc import Mapping
from dataclasses import dataclass

from ..errors import MckptError

DEFAULT_REGION = "us-east-1"


@dataclass(frozen=True)
class AwsSettings:
    access_key_id: str | None
    secret_access_key: str | None
    session_token: str | None
    region: str
    endpoint: str | None
    credentials_from: str | None  # "environment", "profile NAME in FILE", or None (unsigned)

    @property
    def store_label(self) -> str:
        """How errors name the store: the endpoint for S3-compatible servers, else AWS and region."""
        return f"S3 at {self.endpoint}" if self.endpoint else f"AWS S3 ({self.region})"


def _read_ini(path: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read(path, encoding="utf-8")
    except (configparser.Error, UnicodeDecodeError) as e:
        raise MckptError(f"cannot parse: {str(e).splitlines()[0]}", path=path) from None
    return parser


def _section(parser: configparser.ConfigParser, names: tuple[str, ...]) -> dict[str, str] | None:
    for name in names:
        if parser.has_section(name):
            return dict(parser.items(name))
    return None


def aws_settings(env: Mapping[str, str] | None = None) -> AwsSettings:
    """The S3 settings the environment and the AWS files give (see the module docstring)."""
    env = os.environ if env is None else env
    home = env.get("HOME") or os.path.expanduser("~")
    cred_file = env.get("AWS_SHARED_CREDENTIALS_FILE") or os.path.join(home, ".aws", "credentials")
    conf_file = env.get("AWS_CONFIG_FILE") or os.path.join(home, ".aws", "config")
    profile = env.get("AWS_PROFILE") or env.get("AWS_DEFAULT_PROFILE")
    name = profile or "default"
    creds = _section(_read_ini(cred_file), (name,)) if os.path.isfile(cred_file) else None
    conf = (_section(_read_ini(conf_file), (f"profile {name}", name) if name != "default" else ("default",))
            if os.path.isfile(conf_file) else None)
    if profile and creds is None and conf is None:
        raise MckptError(f"AWS profile {profile!r} is not in {cred_file} or {conf_file}",
                         hint="fix AWS_PROFILE, or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
    conf = conf or {}

    key, secret = env.get("AWS_ACCESS_KEY_ID"), env.get("AWS_SECRET_ACCESS_KEY")
    token = env.get("AWS_SESSION_TOKEN") or env.get("AWS_SECURITY_TOKEN")
    source: str | None = "environment"
    if not (key and secret):
        source = None
        for where, section in ((cred_file, creds), (conf_file, conf)):
            if section and section.get("aws_access_key_id") and section.get("aws_secret_access_key"):
                key, secret = section["aws_access_key_id"], section["aws_secret_access_key"]
                token = section.get("aws_session_token")
                source = f"profile {name} in {where}"
                break
        else:
            key = secret = token = None
    region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or conf.get("region") or DEFAULT_REGION
    endpoint = env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL") or conf.get("endpoint_url")
    if endpoint and not endpoint.startswith(("http://", "https://")):
        raise MckptError(f"the S3 endpoint {endpoint!r} is not an http:// or https:// URL",
                         hint="set AWS_ENDPOINT_URL to e.g. http://minio.lab:9000")
    return AwsSettings(key, secret, token or None, region, endpoint.rstrip("/") if endpoint else None, source)
