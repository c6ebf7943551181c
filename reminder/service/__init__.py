"""The daemon: the schedule, one active instance, systemd notifications and logs."""
