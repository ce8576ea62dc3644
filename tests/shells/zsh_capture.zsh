# Print the candidates zsh's completion system offers for a command line (one per line).
# Usage: zsh -f zsh_capture.zsh FPATH_DIR 'mckpt inspect che'
# An interactive zsh runs in a pseudo-terminal (zpty) with compinit and the script under test;
# `compadd` is wrapped to also echo every match (and still add it, so fallbacks such as all-files
# behave as in real use), framed by NUL lines; the shell exits after one TAB.
zmodload zsh/zpty || { echo 'error: zsh/zpty is missing' >&2; exit 1 }
zpty z zsh -f -i
zpty -w z "fpath=(${(q)1} \$fpath); autoload -U compinit; compinit -u -D"
zpty -w z 'PROMPT= ; RPROMPT= ; unsetopt beep'
zpty -w z 'zstyle ":completion:*" list-grouped false; zstyle ":completion:*" insert-tab false'
zpty -w z 'bindkey "^I" complete-word'
zpty -w z 'null-line () { echo -E - $'"'"'\0'"'"' }'
zpty -w z 'compprefuncs=( null-line ); comppostfuncs=( null-line exit )'
zpty -w z 'compadd () {
  if [[ ${@[1,(i)(-|--)]} == *-(O|A|D)\ * ]]; then builtin compadd "$@"; return $?; fi
  typeset -a __hits
  builtin compadd -A __hits "$@"
  builtin compadd "$@"
  local ret=$?
  setopt localoptions norcexpandparam extendedglob
  typeset -A apre hpre
  zparseopts -E P:=apre p:=hpre
  (( $#__hits )) || return $ret
  local h; for h in $__hits; do echo -E - "$apre[-P]$hpre[-p]$h"; done
  return $ret
}'
zpty -n -w z "$2"$'\t'
integer tog=0
local line
while zpty -r z line; do
  if [[ $line == *$'\0'* ]]; then
    (( tog++ )) && break || continue
  fi
  (( tog )) && print -r -- "${line%$'\r'}"
done
zpty -d z
