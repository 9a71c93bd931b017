#!/usr/bin/env python3
"""Writes day DAY of a generated tenant: the export folder SRC copied to DST with every
registration row's lastUpdatedDateTime moved DAY days later (so no row predates its day's
collection) and the tenant changed as a real one changes: each day a different 2 % of the rows
have no method registered (their users drop out of compliance, and come back the next day).

    bench/vary_day.py SRC DST DAY
"""
import json
import os
import re
import shutil
import sys
from datetime import datetime, timedelta

src, dst, day = sys.argv[1], sys.argv[2], int(sys.argv[3])
shift = timedelta(days=day)
stamp = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?Z$")


def moved(text):
    m = stamp.match(text or "")
    if not m:
        return text
    at = datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S") + shift
    return at.strftime("%Y-%m-%dT%H:%M:%S") + (m.group(2) or "") + "Z"


os.makedirs(dst, exist_ok=True)
row = 0
for name in sorted(os.listdir(src)):
    source, target = os.path.join(src, name), os.path.join(dst, name)
    if not name.startswith("userRegistrationDetails"):
        shutil.copyfile(source, target)
        continue
    with open(source, encoding="utf-8") as f:
        page = json.load(f)
    for item in page.get("value", []):
        item["lastUpdatedDateTime"] = moved(item.get("lastUpdatedDateTime"))
        if row % 50 == day % 50:
            item["methodsRegistered"] = []
            item["isMfaRegistered"] = False
        row += 1
    with open(target, "w", encoding="utf-8") as f:
        json.dump(page, f, ensure_ascii=False, separators=(",", ":"))
