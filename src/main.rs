// Evaluation allocates many small, short-lived values (lists, strings, results); mimalloc
// serves those faster than the system allocator (see BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    std::process::exit(expolicy::cli::main());
}
