# One flux2 process per TAB: ask for the candidates once; file names when there are none.
function __flux2_complete
    set -l candidates (env _FLUX2_COMPLETE=complete_fish _TYPER_COMPLETE_FISH_ACTION=get-args _TYPER_COMPLETE_ARGS=(commandline -cp) flux2 | string match --invert '')
    if set -q candidates[1]
        printf '%s\n' $candidates
    else
        __fish_complete_path (commandline -ct)
    end
end
complete --command flux2 --no-files --arguments "(__flux2_complete)"
