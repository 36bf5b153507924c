#!/usr/bin/env python3
"""Checks docker-compose.yml and the Dockerfile without Docker (which the machines
this repository is developed on do not have):

- the compose file parses and validates against the Compose Specification's JSON
  schema (scripts/docker/compose-spec.json, vendored from
  github.com/compose-spec/compose-spec, schema/compose-spec.json, Apache-2.0);
- every image tag is pinned (no :latest, no bare name);
- MongoDB starts only with the `mongo` profile, and its healthcheck waits for a
  writable primary; the app's healthcheck is the binary's own
  (`tozalash healthcheck`), in the compose file and in the Dockerfile;
- the Dockerfile's build caches dependencies (BuildKit cache mounts) and its
  base images are pinned too.

Needs PyYAML and jsonschema_rs (or jsonschema), which scripts/test.sh's venv has.
Usage: check-compose.py [docker-compose.yml [Dockerfile]]
"""

import json
import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
compose_path = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docker-compose.yml"
dockerfile_path = Path(sys.argv[2]) if len(sys.argv) > 2 else ROOT / "Dockerfile"
schema = json.loads((Path(__file__).parent / "compose-spec.json").read_text())
compose = yaml.safe_load(compose_path.read_text())
dockerfile = dockerfile_path.read_text()
problems = []


def schema_errors(instance):
    try:
        import jsonschema_rs

        validator = jsonschema_rs.Draft7Validator(schema)
        return [f"{'/'.join(map(str, e.instance_path))}: {e.message}" for e in validator.iter_errors(instance)]
    except ImportError:
        import jsonschema

        validator = jsonschema.Draft7Validator(schema)
        return [f"{'/'.join(map(str, e.path))}: {e.message}" for e in validator.iter_errors(instance)]


problems += [f"compose schema: {e}" for e in schema_errors(compose)]


def pinned(image):
    name, _, tag = image.rpartition(":")
    return bool(name) and "/" not in tag and tag not in ("", "latest")


services = compose.get("services", {})
for name, service in services.items():
    image = service.get("image")
    if image is not None and not pinned(image):
        problems.append(f"service {name}: image {image!r} is not pinned to a version")

mongo = services.get("mongo", {})
if mongo.get("profiles") != ["mongo"]:
    problems.append("service mongo: must be in the `mongo` profile only")
mongo_check = json.dumps(mongo.get("healthcheck", {}).get("test", ""))
if "isWritablePrimary" not in mongo_check or "rs.initiate" not in mongo_check:
    problems.append("service mongo: the healthcheck must initiate the set and wait for isWritablePrimary")
mongo_dep = services.get("app", {}).get("depends_on", {}).get("mongo", {})
if mongo_dep.get("required") is not False:
    problems.append("service app: its dependency on mongo must be `required: false` (the profile may be off)")
if services.get("app", {}).get("healthcheck", {}).get("test") != ["CMD", "tozalash", "healthcheck"]:
    problems.append("service app: the healthcheck must be the binary's own: [CMD, tozalash, healthcheck]")

for line in dockerfile.splitlines():
    match = re.match(r"\s*FROM\s+(\S+)", line, re.IGNORECASE)
    if match and not pinned(match.group(1)):
        problems.append(f"Dockerfile: base image {match.group(1)!r} is not pinned")
if "--mount=type=cache" not in dockerfile:
    problems.append("Dockerfile: the build must cache dependencies (RUN --mount=type=cache)")
if not re.search(r'HEALTHCHECK\b[^\n]*(\\\n[^\n]*)*CMD \["tozalash", "healthcheck"\]', dockerfile):
    problems.append('Dockerfile: HEALTHCHECK must run CMD ["tozalash", "healthcheck"]')
if not dockerfile.startswith("# syntax=docker/dockerfile:1"):
    problems.append("Dockerfile: cache mounts need the `# syntax=docker/dockerfile:1` line first")

for problem in problems:
    print(f"check-compose: {problem}", file=sys.stderr)
if problems:
    sys.exit(1)
print(f"check-compose: {compose_path.name} is valid Compose and {dockerfile_path.name} is as documented", file=sys.stderr)
