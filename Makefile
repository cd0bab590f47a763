# Shortcuts for dev.sh (which is what README.md and CI use).
.PHONY: setup demo test bench
setup:
	bash dev.sh setup
demo:
	bash dev.sh demo
test:
	bash dev.sh test
bench:
	bash dev.sh bench
