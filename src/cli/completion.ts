// `ferroctl completion bash|zsh`: shell completion scripts. Commands, resources, flags and -o
// values are completed from the lists below; object names are asked of the API (`ferroctl __names
// lb|pools`, with the --server/--token of the command line being completed).
export const SHELLS = ['bash', 'zsh'] as const;
export type Shell = (typeof SHELLS)[number];

export const COMMANDS = ['get', 'describe', 'apply', 'delete', 'version', 'completion'] as const;
export const GET_RESOURCES = ['lb', 'pools', 'bgp', 'sctp', 'cluster', 'ct', 'l2'] as const;
export const FLAGS = [
  '--server',
  '--token',
  '--output',
  '--filename',
  '--chunk-size',
  '--strict',
  '--wait',
  '--timeout',
  '--help',
] as const;

const words = (xs: readonly string[]) => xs.join(' ');

const BASH = `# ferroctl bash completion. Load it with: source <(ferroctl completion bash)
_ferroctl_names() {
  local kind=$1 i args=()
  for ((i = 1; i < COMP_CWORD; i++)); do
    case "\${COMP_WORDS[i]}" in
      --server|-s|--token) args+=("\${COMP_WORDS[i]}" "\${COMP_WORDS[i+1]}") ;;
    esac
  done
  "\${COMP_WORDS[0]}" "\${args[@]}" __names "$kind" 2>/dev/null
}
_ferroctl() {
  local cur=\${COMP_WORDS[COMP_CWORD]} prev=\${COMP_WORDS[COMP_CWORD-1]}
  local i verb= what= n=0
  for ((i = 1; i < COMP_CWORD; i++)); do
    case "\${COMP_WORDS[i]}" in
      --server|-s|--token|--output|-o|--filename|-f|--chunk-size|--timeout) ((i++)) ;;
      -*) ;;
      *) if [[ -z $verb ]]; then verb=\${COMP_WORDS[i]}; elif [[ -z $what ]]; then what=\${COMP_WORDS[i]}; else ((n++)); fi ;;
    esac
  done
  case "$prev" in
    -o|--output) COMPREPLY=($(compgen -W "table wide json yaml" -- "$cur")); return ;;
    -f|--filename) COMPREPLY=($(compgen -f -- "$cur")); return ;;
    --server|-s|--token|--chunk-size|--timeout) return ;;
  esac
  if [[ $cur == -* ]]; then COMPREPLY=($(compgen -W "${words(FLAGS)}" -- "$cur")); return; fi
  if [[ -z $verb ]]; then COMPREPLY=($(compgen -W "${words(COMMANDS)}" -- "$cur")); return; fi
  case "$verb" in
    get)
      if [[ -z $what ]]; then COMPREPLY=($(compgen -W "${words(GET_RESOURCES)}" -- "$cur"))
      elif [[ $n -eq 0 && ( $what == lb || $what == pools ) ]]; then COMPREPLY=($(compgen -W "$(_ferroctl_names "$what")" -- "$cur")); fi ;;
    describe)
      if [[ -z $what ]]; then COMPREPLY=($(compgen -W "lb" -- "$cur"))
      elif [[ $n -eq 0 ]]; then COMPREPLY=($(compgen -W "$(_ferroctl_names lb)" -- "$cur")); fi ;;
    delete)
      if [[ -z $what ]]; then COMPREPLY=($(compgen -W "lb pool" -- "$cur"))
      elif [[ $n -eq 0 ]]; then COMPREPLY=($(compgen -W "$(_ferroctl_names "$what")" -- "$cur")); fi ;;
    completion)
      [[ -z $what ]] && COMPREPLY=($(compgen -W "bash zsh" -- "$cur")) ;;
  esac
}
complete -o default -F _ferroctl ferroctl
`;

const ZSH = `#compdef ferroctl
# ferroctl zsh completion. Load it with: source <(ferroctl completion zsh)
# (or save it as _ferroctl in a directory of $fpath).
_ferroctl_names() {
  local -a args names
  local i
  for ((i = 2; i < CURRENT; i++)); do
    case "\${words[i]}" in
      --server|-s|--token) args+=("\${words[i]}" "\${words[i+1]}") ;;
    esac
  done
  names=(\${(f)"$(\${words[1]} "\${args[@]}" __names "$1" 2>/dev/null)"})
  compadd -a names
}
_ferroctl() {
  local i verb= what= n=0
  for ((i = 2; i < CURRENT; i++)); do
    case "\${words[i]}" in
      --server|-s|--token|--output|-o|--filename|-f|--chunk-size|--timeout) ((i++)) ;;
      -*) ;;
      *) if [[ -z $verb ]]; then verb=\${words[i]}; elif [[ -z $what ]]; then what=\${words[i]}; else ((n++)); fi ;;
    esac
  done
  case "\${words[CURRENT-1]}" in
    -o|--output) compadd table wide json yaml; return ;;
    -f|--filename) _files; return ;;
    --server|-s|--token|--chunk-size|--timeout) return ;;
  esac
  if [[ \${words[CURRENT]} == -* ]]; then compadd -- ${words(FLAGS)}; return; fi
  if [[ -z $verb ]]; then compadd ${words(COMMANDS)}; return; fi
  case "$verb" in
    get)
      if [[ -z $what ]]; then compadd ${words(GET_RESOURCES)}
      elif [[ $n -eq 0 && ( $what == lb || $what == pools ) ]]; then _ferroctl_names "$what"; fi ;;
    describe)
      if [[ -z $what ]]; then compadd lb
      elif [[ $n -eq 0 ]]; then _ferroctl_names lb; fi ;;
    delete)
      if [[ -z $what ]]; then compadd lb pool
      elif [[ $n -eq 0 ]]; then _ferroctl_names "$what"; fi ;;
    completion)
      [[ -z $what ]] && compadd bash zsh ;;
  esac
}
if [[ $zsh_eval_context[-1] == loadautofunc ]]; then
  _ferroctl "$@"
else
  compdef _ferroctl ferroctl
fi
`;

export function completionScript(shell: Shell): string {
  return shell === 'bash' ? BASH : ZSH;
}
