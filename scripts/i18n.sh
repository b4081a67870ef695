#!/usr/bin/env bash
# The UI's message catalogues (node/translations), with Babel's pybabel:
#   scripts/i18n.sh extract   messages in the code → node/translations/messages.pot
#   scripts/i18n.sh update    the POT → every locale's messages.po (new msgids empty, gone ones dropped);
#                             the English catalogue is the source itself (msgstr = msgid)
#   scripts/i18n.sh compile   every messages.po → messages.mo (scripts/setup.sh runs this; .mo is not in git)
set -euo pipefail
cd "$(dirname "$0")/.."
PYBABEL=${PYBABEL:-.venv/bin/pybabel}
PY=${PY:-.venv/bin/python}
DIR=node/translations
LOCALES=(en ru kk uz_Latn az tr ky)

case "${1:-}" in
  extract)
    "$PY" -m node.i18n_catalogues extract "$DIR/messages.pot" ;;
  update)
    for locale in "${LOCALES[@]}"; do
      if [ -f "$DIR/$locale/LC_MESSAGES/messages.po" ]; then
        "$PYBABEL" update --no-fuzzy-matching --ignore-obsolete --width 100 -i "$DIR/messages.pot" -d "$DIR" -l "$locale"
      else
        "$PYBABEL" init --width 100 -i "$DIR/messages.pot" -d "$DIR" -l "$locale"
      fi
    done
    "$PY" -m node.i18n_catalogues fill-english "$DIR/en/LC_MESSAGES/messages.po" ;;
  compile)
    "$PYBABEL" compile --statistics -d "$DIR" ;;
  *)
    echo "usage: $0 extract|update|compile" >&2; exit 2 ;;
esac
