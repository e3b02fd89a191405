#!/usr/bin/env bash
# Install the Trunkline CLI into a virtualenv on the runner and put it on PATH.
#
# Run by actions/setup (`bash "$GITHUB_ACTION_PATH/setup.sh"`) and, as the first step of every other
# Trunkline action, from its sibling folder (`bash "$GITHUB_ACTION_PATH/../setup/setup.sh"`): a plain
# script reached through the action's own checkout works on every runner (github.com, GHES, older
# self-hosted ones), where a nested `uses:` of a sibling action would need the runner to know where the
# action's repository was downloaded.
#
# Inputs (environment; the callers set every one of them in the step's `env:`, so a job's variables
# of the same name never leak in):
#   VERSION       empty: this script's own checkout; a version number (0.1.0): trunkline==0.1.0;
#                 anything else: a pip requirement
#   PYTHON        interpreter the virtualenv is made with (default python3)
#   VENV          virtualenv directory (default $RUNNER_TEMP/trunkline-venv)
#   INSTALL_DEPS  true | false (false: pip --no-deps)
#   IF_MISSING    true | false (true: install nothing when `trunkline` is already on PATH)
# Writes: $GITHUB_OUTPUT (version, bin, installed), $GITHUB_STEP_SUMMARY, and the venv's bin to $GITHUB_PATH
# (for the following steps of the job).
set -euo pipefail

VERSION="${VERSION:-}"
PYTHON="${PYTHON:-python3}"
VENV="${VENV:-}"
INSTALL_DEPS="${INSTALL_DEPS:-true}"
IF_MISSING="${IF_MISSING:-false}"

for flag in "install-deps=$INSTALL_DEPS" "if-missing=$IF_MISSING"; do
  case "${flag#*=}" in
    true|false) ;;
    *) echo "::error title=trunkline setup::${flag%%=*} must be true or false, got '${flag#*=}'"; exit 2 ;;
  esac
done

version_of() {
  "$1" -c 'import importlib.metadata as m; print(m.version("trunkline"))' 2>/dev/null || echo unknown
}

if [ "$IF_MISSING" = true ] && existing=$(command -v trunkline); then
  bin=$(dirname "$existing")
  py="$bin/python"; [ -x "$py" ] || py=python3
  {
    echo "version=$(version_of "$py")"
    echo "bin=$bin"
    echo "installed=false"
  } >> "$GITHUB_OUTPUT"
  echo "Trunkline already on PATH: $existing"
  exit 0
fi

# The repository this script belongs to (actions/setup/setup.sh -> ../..), whichever action runs it.
source_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)
venv="${VENV:-${RUNNER_TEMP:-/tmp}/trunkline-venv}"
case "$venv" in *$'\n'*|*$'\r'*) echo "::error title=trunkline setup::venv must be one line"; exit 2 ;; esac
if [ ! -x "$venv/bin/python" ]; then
  "$PYTHON" -m venv "$venv" || { echo "::error title=trunkline setup::cannot create a virtualenv with '$PYTHON'"; exit 1; }
fi
py="$venv/bin/python"
case "$VERSION" in
  "") spec="$source_dir"; what="this action's checkout ($source_dir)" ;;
  [0-9]*) spec="trunkline==$VERSION"; what="trunkline==$VERSION" ;;
  *) spec="$VERSION"; what="$VERSION" ;;
esac
# Already installed from this very checkout (an editable install, e.g. a developer's venv)?
here=$("$py" -c 'import pathlib, trunkline; print(pathlib.Path(trunkline.__file__).resolve().parents[2])' 2>/dev/null || true)
installed=true
if [ -z "$VERSION" ] && [ "$here" = "$source_dir" ]; then
  installed=false
  echo "Trunkline from $source_dir is already installed in $venv"
else
  args=(-m pip install --quiet --disable-pip-version-check)
  if [ "$INSTALL_DEPS" = false ]; then args+=(--no-deps); fi
  "$py" "${args[@]}" "$spec" || { echo "::error title=trunkline setup::pip could not install $what"; exit 1; }
fi
"$venv/bin/trunkline" --help >/dev/null || { echo "::error title=trunkline setup::the installed trunkline does not run"; exit 1; }
version=$(version_of "$py")
{
  echo "version=$version"
  echo "bin=$venv/bin"
  echo "installed=$installed"
} >> "$GITHUB_OUTPUT"
{
  echo "### Trunkline $version"
  echo
  if [ "$installed" = true ]; then echo "Installed from $what into \`$venv\`."; else echo "Using the installation in \`$venv\`."; fi
} >> "$GITHUB_STEP_SUMMARY"
# The only PATH entry: this script's own virtualenv ($RUNNER_TEMP or the workflow's `venv` input, checked
# to be one line above, never event data). Putting the CLI on PATH for the job's next steps is the point.
echo "$venv/bin" >> "$GITHUB_PATH"
