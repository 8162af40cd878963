fn main() {
    std::process::exit(expolicy::cli::main());
}
