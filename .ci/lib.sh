# Helpers for CI steps; source it, don't run it.

apt_updated=""

# venv DIR PYTHON REQUIREMENTS: (re)make a virtualenv when its requirements change.
venv() {
  local dir=$1 python=$2 requirements=$3
  if [ ! -f "$dir/.installed" ] || [ "$requirements" -nt "$dir/.installed" ]; then
    rm -rf "$dir"
    "$python" -m venv "$dir"
    "$dir/bin/pip" install --quiet --disable-pip-version-check -r "$requirements"
    touch "$dir/.installed"
  fi
}

apt_install() {
  local missing=()
  for package in "$@"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
      || missing+=("$package")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ -z "$apt_updated" ]; then
    apt-get update -qq
    apt_updated=yes
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

pg_version() {
  find /etc/postgresql -mindepth 1 -maxdepth 1 -printf '%f\n' | sort -V | tail -n 1
}

pg_is_up() {
  pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null
}

ensure_postgres() {
  local version
  if ! command -v pg_ctlcluster >/dev/null; then
    apt_install postgresql postgresql-client
    # A fresh CI cluster: let the tests connect as postgres over loopback without a password.
    version=$(pg_version)
    sed -i -E 's/^(host\s+all\s+all\s+\S+\s+)\S+$/\1trust/' \
      "/etc/postgresql/${version}/main/pg_hba.conf"
    pg_ctlcluster --skip-systemctl-redirect "$version" main restart || true
  fi
  pg_is_up && return 0
  version=$(pg_version)
  pg_ctlcluster --skip-systemctl-redirect "$version" main start
  for _ in $(seq 1 30); do
    pg_is_up && return 0
    sleep 1
  done
  echo "PostgreSQL did not start within 30 s" >&2
  return 1
}
