complete --keep-order --exclusive --command megacity --arguments "(COMPLETE=fish megacity -- (commandline --current-process --tokenize --cut-at-cursor) (commandline --current-token))"
