"""The command-line layer every tool shares: its Hydra app (:mod:`.app`), the command line's
checks before Hydra starts (:mod:`.command_line`; where its jobs run and write:
:mod:`.run_folders`), Hydra's refusals as one line (:mod:`.hydra_messages`), what a tool says
(:mod:`.console`) and a sweep's failed jobs (:mod:`.sweep_jobs`)."""
