// Input of profile-ops.mlir: a function of several blocks (loops already branches) cannot be
// timed between its loops.
// CHECK: error: 'func.func' op: profile-ops times a function of one block (structured loops, before scf-to-cf); run it before the loops become branches
func.func @main(%c: i1) {
  cf.cond_br %c, ^a, ^b
^a:
  return
^b:
  return
}
