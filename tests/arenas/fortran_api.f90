! Uses the Fortran bindings (include/mallocrec.f90): a labelled array, a
! labelled work array re-allocated every step inside region "solve", a
! mark, an allocation while paused, and a recording window.
program fortran_api
  use mallocrec
  use, intrinsic :: iso_c_binding, only : c_int64_t
  implicit none
  integer, parameter :: steps = 6, n = 1234
  real(8), allocatable :: u(:), work(:)
  integer(c_int64_t) :: idx, left
  integer :: s
  real(8) :: total

  total = 0
  call mallocrec_region_begin("solve")
  call mallocrec_label_next("u")
  allocate(u(n))
  u = 1
  do s = 1, steps
    call mallocrec_label_next("work")
    allocate(work(2 * n))
    work = u(1) * s
    total = total + work(1)
    deallocate(work)
  end do
  call mallocrec_region_end()
  call mallocrec_mark("solved")
  call mallocrec_pause()
  allocate(work(3 * n))   ! not recorded
  work = 0
  deallocate(work)
  call mallocrec_resume()
  deallocate(u)
  idx = mallocrec_start()
  left = mallocrec_stop(idx)   ! the last window: recording pauses
  print '(a,i0,a,i0,a,i0,a,i0,a,i0)', 'fortran_api: steps=', steps, ' n=', n, ' total=', int(total), &
        ' attached=', mallocrec_attached(), ' left=', left
end program fortran_api
