# install_pkgs.sh: sourced by setup.sh and fuzz.sh. pb_install_pkgs PKG...: installs the Debian
# packages among PKG that are missing (apt-get update first; sudo when not root).
pb_install_pkgs() {
  local missing=() p SUDO=""
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  ((${#missing[@]})) || return 0
  echo "${0##*/}: installing ${missing[*]}"
  [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}
