# A command whose descendants escape its process group: a grandchild in a
# session of its own, a double-forked daemon and a chain $CHAIN deep, each
# in a session of its own, all ignoring SIGTERM; each writes its pid to
# $DIR/pids. The command itself takes 300ms to stop cleanly on SIGTERM
# and then writes $DIR/clean.
case $1 in
top)
	setsid sh "$0" leaf &
	sh "$0" dfork
	setsid sh "$0" chain "${CHAIN:-30}" &
	trap 'sleep 0.3; echo clean >> "$DIR/clean"; exit 0' TERM
	echo $$ > "$DIR/top"
	while :; do sleep 0.05; done ;;
leaf)
	trap '' TERM
	echo $$ >> "$DIR/pids"
	exec sleep 1000 ;;
dfork)
	setsid sh "$0" leaf &
	exit 0 ;;
chain)
	trap '' TERM
	echo $$ >> "$DIR/pids"
	if [ "$2" -gt 1 ]; then setsid sh "$0" chain $(($2 - 1)) & fi
	exec sleep 1000 ;;
esac
