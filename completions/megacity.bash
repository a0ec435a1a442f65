
_clap_complete_megacity() {
    local IFS=$'\013'
    local _CLAP_COMPLETE_INDEX=${COMP_CWORD}
    local _CLAP_COMPLETE_COMP_TYPE=${COMP_TYPE}
    if compopt +o nospace 2> /dev/null; then
        local _CLAP_COMPLETE_SPACE=false
    else
        local _CLAP_COMPLETE_SPACE=true
    fi
    local line="${COMP_LINE:0:COMP_POINT}"
    local words
    IFS=$' \t\n' read -r -a words <<< "$line"
    [[ "$line" =~ [[:space:]]$ ]] && words+=("")
    local _CLAP_COMPLETE_INDEX=$(( ${#words[@]} - 1 ))
    local _megacity_cur="${words[_CLAP_COMPLETE_INDEX]}"
    local _megacity_keep="${_megacity_cur%"$2"}"
    COMPREPLY=( $( \
        _CLAP_IFS="$IFS" \
        _CLAP_COMPLETE_INDEX="$_CLAP_COMPLETE_INDEX" \
        _CLAP_COMPLETE_COMP_TYPE="$_CLAP_COMPLETE_COMP_TYPE" \
        _CLAP_COMPLETE_SPACE="$_CLAP_COMPLETE_SPACE" \
        COMPLETE="bash" \
        "megacity" -- "${words[@]}" \
    ) )
    local _megacity_status=$?
    if [[ -n "$_megacity_keep" ]]; then
        COMPREPLY=( "${COMPREPLY[@]#"$_megacity_keep"}" )
    fi
    if [[ $_megacity_status != 0 ]]; then
        unset COMPREPLY
    elif [[ $_CLAP_COMPLETE_SPACE == false ]] && [[ "${COMPREPLY-}" =~ [=/:]$ ]]; then
        compopt -o nospace
    fi
}
if [[ "${BASH_VERSINFO[0]}" -eq 4 && "${BASH_VERSINFO[1]}" -ge 4 || "${BASH_VERSINFO[0]}" -gt 4 ]]; then
    complete -o nospace -o bashdefault -o nosort -F _clap_complete_megacity megacity
else
    complete -o nospace -o bashdefault -F _clap_complete_megacity megacity
fi

