! mallocrec.f90 - the mallocrec API (mallocrec(3)) for Fortran 2003 and later.
!
! Compile this file with the program and link -lmallocrec_api (no-ops), so
! the program runs with or without the recorder; under `mallocrec run` the
! preloaded recorder answers the same calls.
!
!   use mallocrec
!   call mallocrec_region_begin("solve")    ! ALLOCATEs inside are tagged "solve"
!   call mallocrec_label_next("u")          ! names the next ALLOCATE
!   allocate(u(n))
!   call mallocrec_region_end()
!   call mallocrec_mark("checkpoint")
!   idx = mallocrec_start()                 ! with --start-paused: record
!   ...                                     ! only in here
!   n = mallocrec_stop(idx)
!
! Names are passed through a fixed buffer (trailing blanks dropped, at most
! 255 characters), so the calls themselves never allocate.
module mallocrec
  use, intrinsic :: iso_c_binding, only : c_int, c_int64_t, c_char, c_null_char
  implicit none
  private
  public :: mallocrec_attached, mallocrec_pause, mallocrec_resume, mallocrec_start, mallocrec_stop, &
            mallocrec_register, mallocrec_deregister, mallocrec_region_begin, mallocrec_region_end, &
            mallocrec_mark, mallocrec_label_next

  integer, parameter :: name_max = 255

  interface
    ! 1 when the recorder runs in this process, 0 otherwise
    function mallocrec_attached() bind(C, name="mallocrec_attached") result(r)
      import :: c_int
      integer(c_int) :: r
    end function mallocrec_attached

    subroutine mallocrec_pause() bind(C, name="mallocrec_pause")
    end subroutine mallocrec_pause

    subroutine mallocrec_resume() bind(C, name="mallocrec_resume")
    end subroutine mallocrec_resume

    ! opens a recording window; its index (0 without the recorder)
    function mallocrec_start() bind(C, name="mallocrec_start") result(idx)
      import :: c_int64_t
      integer(c_int64_t) :: idx
    end function mallocrec_start

    ! closes window idx; the number of windows still open
    function mallocrec_stop(idx) bind(C, name="mallocrec_stop") result(n)
      import :: c_int64_t
      integer(c_int64_t), value :: idx
      integer(c_int64_t) :: n
    end function mallocrec_stop

    subroutine mallocrec_register() bind(C, name="mallocrec_register")
    end subroutine mallocrec_register

    subroutine mallocrec_deregister() bind(C, name="mallocrec_deregister")
    end subroutine mallocrec_deregister

    subroutine mallocrec_region_end() bind(C, name="mallocrec_region_end")
    end subroutine mallocrec_region_end

    subroutine c_region_begin(name) bind(C, name="mallocrec_region_begin")
      import :: c_char
      character(kind=c_char), dimension(*), intent(in) :: name
    end subroutine c_region_begin

    subroutine c_mark(name) bind(C, name="mallocrec_mark")
      import :: c_char
      character(kind=c_char), dimension(*), intent(in) :: name
    end subroutine c_mark

    subroutine c_label_next(name) bind(C, name="mallocrec_label_next")
      import :: c_char
      character(kind=c_char), dimension(*), intent(in) :: name
    end subroutine c_label_next
  end interface

contains

  ! a NUL-terminated copy of name, without trailing blanks
  subroutine to_c(name, buf)
    character(len=*), intent(in) :: name
    character(kind=c_char), intent(out) :: buf(name_max + 1)
    integer :: i, n
    n = min(len_trim(name), name_max)
    do i = 1, n
      buf(i) = name(i:i)
    end do
    buf(n + 1) = c_null_char
  end subroutine to_c

  ! begins a region on the calling thread
  subroutine mallocrec_region_begin(name)
    character(len=*), intent(in) :: name
    character(kind=c_char) :: buf(name_max + 1)
    call to_c(name, buf)
    call c_region_begin(buf)
  end subroutine mallocrec_region_begin

  ! a phase marker on the timeline
  subroutine mallocrec_mark(name)
    character(len=*), intent(in) :: name
    character(kind=c_char) :: buf(name_max + 1)
    call to_c(name, buf)
    call c_mark(buf)
  end subroutine mallocrec_mark

  ! names the calling thread's next allocation
  subroutine mallocrec_label_next(name)
    character(len=*), intent(in) :: name
    character(kind=c_char) :: buf(name_max + 1)
    call to_c(name, buf)
    call c_label_next(buf)
  end subroutine mallocrec_label_next

end module mallocrec
