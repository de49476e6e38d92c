fn main() {
    eprintln!("faas: not built yet");
    std::process::exit(1)
}
